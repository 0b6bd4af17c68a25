package acceptance

import "testing"

func TestPadWidth(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int // columns after padding to 12
	}{{"lan_link", 12}, {"LANポート", 12}, {"クラウドサービス 10.20.0.10", 0}} {
		got := padWidth(c.in, 12)
		cols := 0
		for _, r := range got {
			cols++
			if wide(r) {
				cols++
			}
		}
		if c.want == 0 {
			if got != c.in {
				t.Errorf("padWidth(%q) = %q: a label wider than the column is not padded", c.in, got)
			}
			continue
		}
		if cols != c.want {
			t.Errorf("padWidth(%q) is %d columns, want %d", c.in, cols, c.want)
		}
	}
}
