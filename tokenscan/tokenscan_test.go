package tokenscan_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
	"github.com/keyward/keyward/tokenscan"
)

func mustToken(t *testing.T, env keyward.Environment) string {
	t.Helper()
	tok, err := token.New(env)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// broken is tok with its checksum's last character changed.
func broken(tok string) string {
	c := byte('A')
	if tok[len(tok)-1] == 'A' {
		c = 'B'
	}
	return tok[:len(tok)-1] + string(c)
}

func scanAll(t *testing.T, r io.Reader) []tokenscan.Finding {
	t.Helper()
	var out []tokenscan.Finding
	if err := tokenscan.Scan(r, func(f tokenscan.Finding) error { out = append(out, f); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScan(t *testing.T) {
	t.Parallel()
	live, test := mustToken(t, keyward.Live), mustToken(t, keyward.Test)
	long := strings.Repeat("x", 200_000) // one line far longer than a read
	for _, tc := range []struct {
		name string
		text string
		want []tokenscan.Finding
	}{
		{"Nothing", "nothing to see\nhere\n", nil},
		{"Empty", "", nil},
		{"One", "KEY=" + live + "\n", []tokenscan.Finding{{Line: 1, Column: 5, Offset: 4, Token: live}}},
		{"Lookalike", "KEY=" + broken(live) + "\n", nil},
		{"ShapeOnly", "kw_live_" + strings.Repeat("a", 38), nil},
		{"TwoLines", "a\n\nb " + test + " c " + live + "\n" + live, []tokenscan.Finding{
			{Line: 3, Column: 3, Offset: 5, Token: test},
			{Line: 3, Column: 52, Offset: 54, Token: live},
			{Line: 4, Column: 1, Offset: 101, Token: live},
		}},
		{"CRLF", "x\r\n\"" + live + "\"\r\n", []tokenscan.Finding{{Line: 2, Column: 2, Offset: 4, Token: live}}},
		{"LongLine", long + live + long + "\n" + live, []tokenscan.Finding{
			{Line: 1, Column: len(long) + 1, Offset: int64(len(long)), Token: live},
			{Line: 2, Column: 1, Offset: int64(2*len(long) + len(live) + 1), Token: live},
		}},
		{"AcrossReads", strings.Repeat("y\n", 32<<10-10) + "zz" + live, []tokenscan.Finding{
			{Line: 32<<10 - 9, Column: 3, Offset: 2*(32<<10-10) + 2, Token: live},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []io.Reader{strings.NewReader(tc.text), iotest.OneByteReader(strings.NewReader(tc.text)), iotest.HalfReader(strings.NewReader(tc.text))} {
				got := scanAll(t, r)
				if len(got) != len(tc.want) {
					t.Fatalf("found %+v, want %+v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("finding %d: %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	live := mustToken(t, keyward.Live)
	text := live + " " + live
	n := 0
	if err := tokenscan.Scan(strings.NewReader(text), func(tokenscan.Finding) error { n++; return tokenscan.ErrStop }); err != nil || n != 1 {
		t.Fatalf("ErrStop: err %v after %d findings, want nil after 1", err, n)
	}
	boom := errors.New("boom")
	if err := tokenscan.Scan(strings.NewReader(text), func(tokenscan.Finding) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("callback error: %v", err)
	}
	if err := tokenscan.Scan(iotest.ErrReader(boom), func(tokenscan.Finding) error { return nil }); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	if got := tokenscan.Mask(live); got != live[:12]+"…" || strings.Contains(got, live[12:]) {
		t.Fatalf("Mask = %q", got)
	}
}
