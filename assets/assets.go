// Package assets holds the web client (plain HTML/JS/CSS, no build step),
// embedded so the one binary serves everything a phone needs.
package assets

import "embed"

// Files is the web client: index.html, app.js and style.css at the root.
// All URLs inside are relative, so the client works under a proxy sub-path.
//
//go:embed index.html app.js style.css
var Files embed.FS
