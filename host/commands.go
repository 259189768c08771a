package host

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CommandsHelp lists the headless host's console commands.
const CommandsHelp = "commands: kick N, spectate N, restart"

// Commands reads the headless host's console: one command a line, "kick N"
// (remove player N; its page says so), "spectate N" (make player N a
// spectator) or "restart" (start again, reading the settings file anew) —
// what the window's buttons do. A bad command is one line on Stderr. EOF
// (stdin is /dev/null under a service manager) or "restart" ends it.
func (h *Host) Commands(in io.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) == 1 && fields[0] == "restart" {
			h.log.Info("host command done", "command", "restart")
			h.Restart()
			return
		}
		var slot int
		var err error
		if len(fields) == 2 {
			slot, err = strconv.Atoi(fields[1])
		}
		switch {
		case len(fields) != 2 || err != nil:
			err = fmt.Errorf("unknown command %q (%s)", sc.Text(), CommandsHelp)
		case fields[0] == "kick":
			err = h.Kick(slot)
		case fields[0] == "spectate":
			err = h.MoveToSpectator(slot)
		default:
			err = fmt.Errorf("unknown command %q (%s)", sc.Text(), CommandsHelp)
		}
		if err != nil {
			fmt.Fprintf(h.cfg.Stderr, "couchplay: %v\n", err)
			continue
		}
		h.log.Info("host command done", "command", sc.Text())
	}
}
