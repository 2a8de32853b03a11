package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi/jsonbody"
	"github.com/keyward/keyward/peer"
	"github.com/keyward/keyward/secretscanning"
)

// reportLeaks is POST /v1/leaks: an authenticated caller reports tokens it found exposed. No
// permission is needed: knowing a token proves it is exposed, and a report can only end keys.
func (s *Server) reportLeaks(w http.ResponseWriter, r *http.Request) error {
	var in keyward.LeakReportInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	rep := authority.LeakReport{Reporter: "api", Found: make([]authority.LeakFound, 0, min(len(in.Tokens), authority.MaxLeakTokens+1))}
	for _, tok := range in.Tokens {
		rep.Found = append(rep.Found, authority.LeakFound{Token: tok, URL: in.URL, Source: in.Source})
		if len(rep.Found) > authority.MaxLeakTokens {
			break // enough for the authority to refuse the report
		}
	}
	res, err := s.authority.ReportLeaks(r.Context(), rep)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// githubMatch is one secret match of GitHub's secret scanning partner program.
type githubMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// githubFeedback is the partner program's optional feedback on one match: the SHA-256 of the
// token in hex, its type as GitHub sent it, and whether it was a real key of this server.
type githubFeedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// githubLeaks is POST /v1/leaks/github, GitHub's secret scanning partner endpoint: it needs no
// credential but a signature by one of the configured keys (--leak-report-keys), checked over
// the raw body before anything parses it; a server without keys answers 404. Unknown and
// malformed tokens cost no store access (ReportLeaks), so a valid signature is the only way in
// to the store.
func (s *Server) githubLeaks(w http.ResponseWriter, r *http.Request) error {
	if s.leakKeys.Len() == 0 {
		return keyward.Errorf(keyward.ENotFound, "leak reports from GitHub are not configured on this server")
	}
	body, err := jsonbody.Read(r) // at most MaxBodyBytes (1 MiB)
	if err != nil {
		return jsonbody.Refusal(err, nil)
	}
	if err := s.leakKeys.Verify(r.Header.Get(secretscanning.HeaderKeyID), r.Header.Get(secretscanning.HeaderSignature), body); err != nil {
		return keyward.Errorf(keyward.EUnauthenticated, "the report must be signed by a configured key: headers %s and %s", secretscanning.HeaderKeyID, secretscanning.HeaderSignature)
	}
	var matches []githubMatch
	if err := jsonbody.Refusal(jsonbody.Unmarshal(body, &matches, false), nil); err != nil {
		return err
	}
	rep := authority.LeakReport{Reporter: "github", RemoteAddr: peer.Host(r), Found: make([]authority.LeakFound, len(matches))}
	for i, m := range matches {
		rep.Found[i] = authority.LeakFound{Token: m.Token, URL: m.URL, Source: m.Source}
	}
	res, err := s.authority.ReportLeaks(r.Context(), rep)
	if err != nil {
		return err
	}
	out := make([]githubFeedback, len(res.Tokens))
	for i, t := range res.Tokens {
		out[i] = githubFeedback{TokenHash: t.TokenHash, TokenType: matches[i].Type, Label: "false_positive"}
		if t.Known {
			out[i].Label = "true_positive"
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
