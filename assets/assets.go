// Package assets holds the web client (plain HTML/JS/CSS, no build step) and
// the app icon, embedded so the one binary serves everything a phone needs.
package assets

import "embed"

// Files is the web client: index.html, app.js and the ES modules it imports
// (one a concern: page.js the constants and session state, signalling.js,
// rtc.js, media.js, view.js, input.js, pad.js, sound.js, games.js,
// code-prompt.js, overlay.js, leaving.js, test-hooks.js), the AudioWorklet
// module audio-worklet.js (which imports the jitter buffer jitter.js and its
// loss concealment conceal.js),
// style.css and the icon at the root. All URLs inside are relative, so the
// client works under a proxy sub-path. No build step: browsers load the
// modules as they are.
//
//go:embed index.html *.js style.css icon.png
var Files embed.FS

// Icon is the app icon (icon.svg drawn for the project, rendered at 512x512):
// the window's, the tray's (a raster image: the tray cannot show SVG) and
// the packaged app's (FyneApp.toml).
//
//go:embed icon.png
var Icon []byte
