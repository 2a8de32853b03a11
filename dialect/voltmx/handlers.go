package voltmx

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// message is the body of create, modify and delete: the key and what happened.
type message struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// details is the body of GET.
type details struct {
	Status int       `json:"status"`
	Result keyDetail `json:"result"`
}

type keyDetail struct {
	AppAPIKey    string  `json:"appAPIKey"`
	Description  string  `json:"description"`
	NeverExpires bool    `json:"neverExpires"`
	CreatedOn    string  `json:"createdOn"`
	UpdatedOn    string  `json:"updatedOn"`
	ExpiresOn    *string `json:"expiresOn"` // null when the key never expires
}

// create issues a key for the application appId (a project's slug or id). Without expiresOn or
// neverExpires it expires after keyward.DefaultExpirationDays (90). name, a keyward extension,
// names the credential in the native API; by default it is "voltmx-" and 12 random hex digits.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "appId", "expiresOn", "neverExpires", "description", "name")
	if err != nil {
		return err
	}
	app := strings.TrimSpace(p["appId"])
	if app == "" {
		return missing("appId")
	}
	in := keyward.CreateCredentialInput{Type: keyward.APIToken, Name: p["name"], Description: p["description"]}
	never, _, err := p.bool("neverExpires")
	if err != nil {
		return err
	}
	if in.NeverExpires = never; !never && strings.TrimSpace(p["expiresOn"]) != "" {
		t, err := h.parseTime("expiresOn", p["expiresOn"])
		if err != nil {
			return err
		}
		in.ExpiresAt = &t
	}
	named := in.Name != ""
	for attempt := 0; ; attempt++ {
		if !named {
			in.Name = generatedName()
		}
		issued, err := h.a.CreateCredential(r.Context(), app, in)
		if keyward.ErrorCode(err) == keyward.EConflict && !named && attempt < 3 {
			continue // a generated name that is taken; another is drawn
		} else if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, message{ID: issued.Key, Message: "App API key Added successfully"})
		return nil
	}
}

func generatedName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "voltmx-" + hex.EncodeToString(b[:])
}

// lookup resolves the {appKey} of the path. A revoked key is not found: the vendor deletes
// keys, and a deleted key is gone.
func (h *Handler) lookup(r *http.Request) (*keyward.Credential, error) {
	c, err := h.a.CredentialByKey(r.Context(), r.PathValue("appKey"))
	if err != nil {
		return nil, err
	}
	if c.State == keyward.StateRevoked {
		return nil, keyward.Errorf(keyward.ENotFound, "API key not found")
	}
	return c, nil
}

// refs are the project and credential references of c for the authority's methods.
func refs(c *keyward.Credential) (project, credential string) {
	return strconv.FormatInt(c.ProjectID, 10), strconv.FormatInt(c.ID, 10)
}

// get shows a key's details. appAPIKey is the key itself when the project keeps recoverable
// keys and the caller holds keys:reveal there (the reveal is audited), else its masked form.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	c, err := h.lookup(r)
	if err != nil {
		return err
	}
	shown, err := h.a.DisplayKey(r.Context(), c)
	if err != nil {
		return err
	}
	d := keyDetail{
		AppAPIKey: shown, Description: c.Description, NeverExpires: c.ExpiresAt == nil,
		CreatedOn: h.formatTime(c.CreatedAt), UpdatedOn: h.formatTime(c.UpdatedAt),
	}
	if c.ExpiresAt != nil {
		s := h.formatTime(*c.ExpiresAt)
		d.ExpiresOn = &s
	}
	writeJSON(w, http.StatusOK, details{Status: http.StatusOK, Result: d})
	return nil
}

// modify changes a key's expiry or description and, with regenerate=true (a keyward
// extension), replaces it with a new key, returned in id; the old key stops working at once.
// neverExpires=true wins over expiresOn. Both steps' permissions are checked before either
// writes, so that a refused request changes nothing.
func (h *Handler) modify(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "expiresOn", "neverExpires", "description", "regenerate")
	if err != nil {
		return err
	}
	var in keyward.UpdateCredentialInput
	if d, ok := p["description"]; ok {
		in.Description = &d
	}
	never, neverGiven, err := p.bool("neverExpires")
	if err != nil {
		return err
	}
	expiresOn := strings.TrimSpace(p["expiresOn"])
	switch {
	case never:
		in.NeverExpires = &never
	case expiresOn != "":
		t, err := h.parseTime("expiresOn", expiresOn)
		if err != nil {
			return err
		}
		in.ExpiresAt = &t
	case neverGiven:
		return missing("expiresOn") // neverExpires=false: until when?
	}
	regenerate, _, err := p.bool("regenerate")
	if err != nil {
		return err
	}
	changes := in.Description != nil || in.NeverExpires != nil || in.ExpiresAt != nil
	if !changes && !regenerate {
		return missing("expiresOn", "neverExpires", "description", "regenerate")
	}
	c, err := h.lookup(r)
	if err != nil {
		return err
	}
	project, ref := refs(c)
	var update *keyward.UpdateCredentialInput
	var roll *keyward.RollInput
	if changes {
		update = &in
	}
	if regenerate {
		roll = &keyward.RollInput{}
	}
	_, issued, err := h.a.UpdateAndRollCredential(r.Context(), project, ref, update, roll)
	if err != nil {
		return err
	}
	id := r.PathValue("appKey")
	if issued != nil {
		id = issued.Key
	}
	writeJSON(w, http.StatusOK, message{ID: id, Message: "App API key updated successfully"})
	return nil
}

// delete revokes a key for good.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	c, err := h.lookup(r)
	if err != nil {
		return err
	}
	project, ref := refs(c)
	if _, err := h.a.RevokeCredential(r.Context(), project, ref); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{ID: r.PathValue("appKey"), Message: "App API key deleted successfully"})
	return nil
}
