// Package tokenscan finds well-formed keyward tokens in text: the shape of token.Pattern and a
// matching checksum, so that random text of the right shape is not reported (1 in 2^32 is). It
// reads any input in bounded memory, however long its lines, and says where each token is.
package tokenscan

import (
	"bytes"
	"errors"
	"io"

	"github.com/keyward/keyward/token"
)

// Finding is one token found: where it starts (Line and Column count from 1; Column in bytes)
// and the token itself.
type Finding struct {
	Line, Column int
	Offset       int64 // bytes from the start of the input
	Token        string
}

// tokenLen is the length of every keyward token: "kw_live_", 32 random characters and a
// 6-character checksum.
const tokenLen = 8 + 32 + 6

// chunkSize is how much Scan reads at a time; memory stays at about twice this.
const chunkSize = 64 << 10

// ErrStop, returned by Scan's callback, ends the scan early without an error.
var ErrStop = errors.New("tokenscan: stop")

// Scan reads r to its end and calls fn for every well-formed keyward token in it, in order.
// An error from fn ends the scan and is returned (ErrStop as nil); so is a read error.
func Scan(r io.Reader, fn func(Finding) error) error {
	buf := make([]byte, 0, chunkSize+tokenLen)
	var (
		base      int64 // offset of buf[0] in the input
		line      = 1   // line of buf[0]
		lineStart int64 // offset of the start of line
	)
	chunk := make([]byte, chunkSize)
	for {
		n, rerr := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if n > 0 || rerr != nil {
			pos := 0 // how far line and lineStart have counted in buf
			for _, m := range token.Pattern.FindAllIndex(buf, -1) {
				tok := string(buf[m[0]:m[1]])
				if !token.Valid(tok) {
					continue
				}
				line, lineStart = advance(buf[pos:m[0]], base+int64(pos), line, lineStart)
				pos = m[0]
				f := Finding{Line: line, Column: int(base+int64(m[0])-lineStart) + 1, Offset: base + int64(m[0]), Token: tok}
				if err := fn(f); err != nil {
					if errors.Is(err, ErrStop) {
						return nil
					}
					return err
				}
			}
			// Keep the last tokenLen-1 bytes: a token that starts there ends in what comes next.
			// None found already can be found again: a token has no '_' past its prefix, so what
			// is kept of one never starts another.
			keep := min(len(buf), tokenLen-1)
			cut := len(buf) - keep
			line, lineStart = advance(buf[pos:cut], base+int64(pos), line, lineStart)
			copy(buf, buf[cut:])
			buf = buf[:keep]
			base += int64(cut)
		}
		if rerr == io.EOF {
			return nil
		} else if rerr != nil {
			return rerr
		}
	}
}

// advance counts the lines of b, which starts at offset off, from line (which starts at
// lineStart), and returns the line and line start at b's end.
func advance(b []byte, off int64, line int, lineStart int64) (int, int64) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return line, lineStart
		}
		line++
		lineStart = off + int64(i) + 1
		off += int64(i) + 1
		b = b[i+1:]
	}
}

// Mask returns what of tok may be shown: its prefix and first four random characters, then an
// ellipsis.
func Mask(tok string) string { return token.Start(tok) + "…" }
