package fleet

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// WriteTable prints results as a table, in their order, then a summary
// line:
//
//	NAME  STATE  TUNNEL  HANDSHAKE  OFFSET  SELF-CHECK  UPTIME  VERSION  NOTE
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tTUNNEL\tHANDSHAKE\tOFFSET\tSELF-CHECK\tUPTIME\tVERSION\tNOTE")
	counts := make([]int, Healthy+1)
	for _, r := range rs {
		counts[r.Class]++
		st := r.Status
		if st == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t%s\n", r.Name, r.Class, oneLine(r.Note))
			continue
		}
		tun := st.Tunnel.State.String()
		if st.Tunnel.State == tunnel.Up && st.Tunnel.Active != "" {
			tun += " via " + st.Tunnel.Active
		}
		hs := "never"
		if st.HandshakeAge != nil {
			hs = Age(time.Duration(*st.HandshakeAge * float64(time.Second)))
		}
		off := "-"
		if ts := st.TimeSync; ts != nil {
			if ts.Error != "" {
				off = "?"
			} else {
				off = fmt.Sprintf("%+.3fs", ts.Offset)
			}
		}
		sc := "-"
		if c := st.SelfCheck; c != nil {
			sc = "ok"
			if !c.OK {
				sc = "FAILED"
			}
			sc += " " + c.At.Local().Format("01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Class, tun, hs, off, sc,
			Age(time.Duration(st.Uptime*float64(time.Second))), st.Version, oneLine(r.Note))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for c := Unreachable; c < Healthy; c++ {
		if counts[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[c], strings.ToLower(c.String())))
		}
	}
	boxes := "boxes"
	if len(rs) == 1 {
		boxes = "box"
	}
	summary := fmt.Sprintf("%d %s: %d healthy", len(rs), boxes, counts[Healthy])
	if len(parts) > 0 {
		summary += ", " + strings.Join(parts, ", ")
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

// oneLine keeps a note on its row of the table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:99]) + "…"
	}
	return s
}

// Age writes d briefly, as shisactl's tables do: 42s, 5m03s, 3h12m, 12d04h.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
