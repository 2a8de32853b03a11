package f5xc

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// kind is one of the two collections: api_credentials (credentials that act with their
// creator's rights) and service_credentials (credentials of a service user of their own).
type kind struct {
	collection string
	holders    authority.CredentialKind
}

var (
	apiCredentials     = &kind{collection: "api_credentials", holders: authority.UserKind}
	serviceCredentials = &kind{collection: "service_credentials", holders: authority.ServiceKind}
)

func (k *kind) service() bool { return k.holders == authority.ServiceKind }

// typeName renders a credential type as the collection names it: service credentials have
// F5 XC's SERVICE_ types.
func (k *kind) typeName(t keyward.CredentialType) string {
	if k.service() {
		return "SERVICE_" + string(t)
	}
	return string(t)
}

// parseType reads a type as the collection's create and bulk_revoke take it.
func (k *kind) parseType(s string) (keyward.CredentialType, bool) {
	if k.service() {
		s = strings.TrimPrefix(s, "SERVICE_")
	}
	if t := keyward.CredentialType(s); t.Valid() {
		return t, true
	}
	// F5 XC's other types (SITE_GLOBAL_KUBE_CONFIG, SCIM_API_TOKEN) have no keyward counterpart.
	return "", false
}

func (k *kind) create(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	if k.service() {
		return k.createService(a, w, r)
	}
	return k.createAPI(a, w, r)
}

// render shows one credential: as a list item, or as GET shows it.
func (k *kind) render(h *authority.HeldCredential, get bool) any {
	switch {
	case k.service():
		return k.serviceItemOf(h)
	case get:
		return getResponseOf(h)
	}
	return k.itemOf(h)
}

// ListResponseItem is one credential of a list.
type ListResponseItem struct {
	Active          bool   `json:"active"`
	CreateTimestamp string `json:"create_timestamp"`
	ExpiryTimestamp string `json:"expiry_timestamp,omitempty"`
	Name            string `json:"name"`
	Namespace       string `json:"namespace"`
	Type            string `json:"type"`
	UID             string `json:"uid"`
	// UserEmail is the keyward name of the user the credential acts as: its creator, or its
	// service user. keyward users have names, not email addresses.
	UserEmail string `json:"user_email"`
}

func (k *kind) itemOf(h *authority.HeldCredential) ListResponseItem {
	c := h.Credential
	return ListResponseItem{
		Active: c.State == keyward.StateActive, CreateTimestamp: timestamp(&c.CreatedAt),
		ExpiryTimestamp: timestamp(c.ExpiresAt), Name: c.Name, Namespace: c.Project,
		Type: k.typeName(c.Type), UID: uid(c.ID), UserEmail: h.Holder.Name,
	}
}

// ServiceItem is one service credential, in a list and as GET returns it.
type ServiceItem struct {
	ListResponseItem
	NamespaceAccess NamespaceAccess `json:"namespace_access"`
	// UserGroupNames is always empty: keyward has no user groups.
	UserGroupNames []string `json:"user_group_names"`
}

// NamespaceAccess maps each namespace to the roles a service credential holds there.
type NamespaceAccess struct {
	NamespaceRoleMap map[string]RoleList `json:"namespace_role_map"`
}

// RoleList is a list of role names.
type RoleList struct {
	Names []string `json:"names"`
}

func (k *kind) serviceItemOf(h *authority.HeldCredential) ServiceItem {
	access := NamespaceAccess{NamespaceRoleMap: map[string]RoleList{}}
	for _, b := range h.Holder.Access {
		l := access.NamespaceRoleMap[b.Project]
		l.Names = append(l.Names, b.Role)
		access.NamespaceRoleMap[b.Project] = l
	}
	return ServiceItem{ListResponseItem: k.itemOf(h), NamespaceAccess: access, UserGroupNames: []string{}}
}

func (k *kind) list(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	hs, err := a.ListHeldCredentials(r.Context(), r.PathValue("namespace"), k.holders)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(hs))
	for _, h := range hs {
		items = append(items, k.render(h, false))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (k *kind) get(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	h, err := a.HeldCredential(r.Context(), r.PathValue("namespace"), r.PathValue("name"), k.holders)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k.render(h, true))
}

// GetResponse is GET api_credentials/{name}: the credential as an F5 XC object.
type GetResponse struct {
	Object Object `json:"object"`
}

// Object is an API credential object.
type Object struct {
	Metadata       ObjectMeta       `json:"metadata"`
	Spec           Spec             `json:"spec"`
	SystemMetadata SystemObjectMeta `json:"system_metadata"`
}

// ObjectMeta is an object's metadata.
type ObjectMeta struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	UID         string `json:"uid"`
	Description string `json:"description,omitempty"`
	Disable     bool   `json:"disable"`
}

// Spec holds an API credential's state.
type Spec struct {
	GCSpec GlobalSpec `json:"gc_spec"`
}

// GlobalSpec is an API credential's state.
type GlobalSpec struct {
	Active               bool        `json:"active"`
	CertificateSerialNum string      `json:"certificate_serial_num,omitempty"`
	CreatedTimestamp     string      `json:"created_timestamp"`
	ExpirationTimestamp  string      `json:"expiration_timestamp,omitempty"`
	Type                 string      `json:"type"`
	Users                []ObjectRef `json:"users"`
	VirtualK8sName       string      `json:"virtual_k8s_name,omitempty"`
	VirtualK8sNamespace  string      `json:"virtual_k8s_namespace,omitempty"`
}

// ObjectRef refers to a user.
type ObjectRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// SystemObjectMeta is what the system records about an object.
type SystemObjectMeta struct {
	CreationTimestamp     string `json:"creation_timestamp"`
	CreatorID             string `json:"creator_id"`
	ModificationTimestamp string `json:"modification_timestamp"`
	UID                   string `json:"uid"`
}

func getResponseOf(h *authority.HeldCredential) GetResponse {
	c := h.Credential
	return GetResponse{Object: Object{
		Metadata: ObjectMeta{Name: c.Name, Namespace: c.Project, UID: uid(c.ID), Description: c.Description, Disable: !c.Active},
		Spec: Spec{GCSpec: GlobalSpec{
			Active: c.State == keyward.StateActive, CertificateSerialNum: c.Serial,
			CreatedTimestamp: timestamp(&c.CreatedAt), ExpirationTimestamp: timestamp(c.ExpiresAt),
			Type: string(c.Type), Users: []ObjectRef{{Kind: "user", Name: h.Holder.Name, UID: uid(h.Holder.UserID)}},
			VirtualK8sName: c.Cluster, VirtualK8sNamespace: c.Namespace,
		}},
		SystemMetadata: SystemObjectMeta{
			CreationTimestamp: timestamp(&c.CreatedAt), CreatorID: h.Holder.Name,
			ModificationTimestamp: timestamp(&c.UpdatedAt), UID: uid(c.ID),
		},
	}}
}

// CreateRequest is POST api_credentials.
type CreateRequest struct {
	ExpirationDays int64       `json:"expiration_days"`
	Name           string      `json:"name"`
	Namespace      string      `json:"namespace"`
	Spec           *CreateSpec `json:"spec"`
}

// CreateSpec is what an API credential is to be.
type CreateSpec struct {
	Password            string `json:"password"`
	Type                string `json:"type"`
	VirtualK8sName      string `json:"virtual_k8s_name"`
	VirtualK8sNamespace string `json:"virtual_k8s_namespace"`
}

// CreateResponse answers both creates. Data is the secret, shown this once: the token of an
// API_TOKEN, the base64 PKCS#12 bundle of an API_CERTIFICATE, the base64 kubeconfig of a
// KUBE_CONFIG.
type CreateResponse struct {
	Active              bool   `json:"active"`
	Data                string `json:"data"`
	ExpirationTimestamp string `json:"expiration_timestamp,omitempty"`
	Name                string `json:"name"`
}

func createResponseOf(issued *keyward.IssuedCredential) CreateResponse {
	data := issued.Data
	if issued.Type == keyward.APIToken {
		data = issued.Key
	}
	return CreateResponse{
		Active: issued.State == keyward.StateActive, Data: data,
		ExpirationTimestamp: timestamp(issued.ExpiresAt), Name: issued.Name,
	}
}

const typeProblem = "must be API_TOKEN, API_CERTIFICATE or KUBE_CONFIG"

func (k *kind) createAPI(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ns, err := namespace(r, req.Namespace)
	if err != nil {
		return err
	}
	if req.Spec == nil || req.Spec.Type == "" {
		return keyward.Invalid("spec.type", "is required: API_TOKEN, API_CERTIFICATE or KUBE_CONFIG")
	}
	t, ok := k.parseType(req.Spec.Type)
	if !ok || t == keyward.KubeToken { // keyward's own type, which F5 XC has no shape for
		return keyward.Invalid("spec.type", typeProblem+" (service credentials are created under service_credentials)")
	}
	// The spec's fields are "applicable for" one type each; F5 XC ignores them for the others.
	in := keyward.CreateCredentialInput{Type: t, Name: req.Name, ExpirationDays: days(req.ExpirationDays)}
	switch t {
	case keyward.APICertificate:
		in.Password = req.Spec.Password
	case keyward.KubeConfig:
		in.VirtualK8sName, in.VirtualK8sNamespace = req.Spec.VirtualK8sName, req.Spec.VirtualK8sNamespace
	}
	issued, err := a.CreateCredential(r.Context(), ns, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, createResponseOf(issued))
}

// NamespaceRole is one role in one namespace.
type NamespaceRole struct {
	Namespace string `json:"namespace"`
	Role      string `json:"role"`
}

// CreateServiceCredentialsRequest is POST service_credentials.
type CreateServiceCredentialsRequest struct {
	APICertificate *struct {
		Password string `json:"password"`
	} `json:"api_certificate"`
	APIToken       *struct{}       `json:"api_token"`
	ExpirationDays int64           `json:"expiration_days"`
	Name           string          `json:"name"`
	Namespace      string          `json:"namespace"`
	NamespaceRoles []NamespaceRole `json:"namespace_roles"`
	Password       string          `json:"password"`
	SiteKubeconfig *struct {
		Site string `json:"site"`
	} `json:"site_kubeconfig"`
	Type                string   `json:"type"`
	UserGroupNames      []string `json:"user_group_names"`
	VirtualK8sName      string   `json:"virtual_k8s_name"`
	VirtualK8sNamespace string   `json:"virtual_k8s_namespace"`
	Vk8sKubeconfig      *struct {
		Vk8sClusterName string `json:"vk8s_cluster_name"`
		Vk8sNamespace   string `json:"vk8s_namespace"`
	} `json:"vk8s_kubeconfig"`
}

func (k *kind) createService(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req CreateServiceCredentialsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ns, err := namespace(r, req.Namespace)
	if err != nil {
		return err
	}
	if req.Type == "" {
		return keyward.Invalid("type", "is required: API_TOKEN, API_CERTIFICATE or KUBE_CONFIG (or their SERVICE_ forms)")
	}
	t, ok := k.parseType(req.Type)
	if !ok || t == keyward.KubeToken {
		return keyward.Invalid("type", typeProblem+", or their SERVICE_ forms")
	}
	if len(req.UserGroupNames) > 0 {
		return keyward.Invalid("user_group_names", "keyward has no user groups; give the roles in namespace_roles")
	}
	if len(req.NamespaceRoles) == 0 {
		return keyward.Invalid("namespace_roles", "is required: the roles the service credential gets, namespace by namespace")
	}
	in := authority.CreateServiceCredentialInput{Type: t, Name: req.Name, ExpirationDays: days(req.ExpirationDays)}
	for _, nr := range req.NamespaceRoles {
		in.Access = append(in.Access, authority.ProjectRole{Project: nr.Namespace, Role: nr.Role})
	}
	switch t {
	case keyward.APICertificate:
		// The password may come in api_certificate (the current form) or at the top.
		var nested string
		if req.APICertificate != nil {
			nested = req.APICertificate.Password
		}
		if in.Password, err = oneOf("password", nested, req.Password); err != nil {
			return err
		}
	case keyward.KubeConfig:
		var name, nsp string
		if k := req.Vk8sKubeconfig; k != nil {
			name, nsp = k.Vk8sClusterName, k.Vk8sNamespace
		}
		if in.VirtualK8sName, err = oneOf("virtual_k8s_name", name, req.VirtualK8sName); err != nil {
			return err
		}
		if in.VirtualK8sNamespace, err = oneOf("virtual_k8s_namespace", nsp, req.VirtualK8sNamespace); err != nil {
			return err
		}
	}
	issued, err := a.CreateServiceCredential(r.Context(), ns, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, createResponseOf(issued))
}

// oneOf returns the value a field has in one of its two places, refusing two different ones.
func oneOf(field, nested, top string) (string, error) {
	if nested != "" && top != "" && nested != top {
		return "", keyward.Invalid(field, "is given twice with different values")
	}
	if nested != "" {
		return nested, nil
	}
	return top, nil
}

// StatusResponse answers renew, revoke and activate.
type StatusResponse struct {
	Status bool `json:"status"`
}

// RenewRequest renews an API token.
type RenewRequest struct {
	ExpirationDays int64  `json:"expiration_days"`
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
}

// GetRequest names a credential, for revoke and activate. Active is keyward's addition to
// activate: false deactivates (without it, or true, activates).
type GetRequest struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Active    *bool  `json:"active,omitempty"`
}

// named decodes a request that names a credential and returns the namespace and the name.
func named(r *http.Request, req interface{ names() (string, string) }) (string, string, error) {
	if err := decode(r, req); err != nil {
		return "", "", err
	}
	name, body := req.names()
	ns, err := namespace(r, body)
	if err != nil {
		return "", "", err
	}
	if name == "" {
		return "", "", keyward.Invalid("name", "is required")
	}
	return ns, name, nil
}

func (q *RenewRequest) names() (string, string) { return q.Name, q.Namespace }
func (q *GetRequest) names() (string, string)   { return q.Name, q.Namespace }

// renew moves an API token's expiry; the authority refuses every other type with the reason.
func renew(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req RenewRequest
	ns, name, err := named(r, &req)
	if err != nil {
		return err
	}
	if _, err := a.RenewCredential(r.Context(), ns, name, keyward.RenewInput{ExpirationDays: days(req.ExpirationDays)}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, StatusResponse{Status: true})
}

func revoke(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req GetRequest
	ns, name, err := named(r, &req)
	if err != nil {
		return err
	}
	if req.Active != nil {
		return keyward.Invalid("active", "is not a field of revoke")
	}
	if _, err := a.RevokeCredential(r.Context(), ns, name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, StatusResponse{Status: true})
}

func activate(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req GetRequest
	ns, name, err := named(r, &req)
	if err != nil {
		return err
	}
	active := req.Active == nil || *req.Active
	if _, err := a.UpdateCredential(r.Context(), ns, name, keyward.UpdateCredentialInput{Active: &active}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, StatusResponse{Status: true})
}

// BulkRevokeRequest selects the credentials to revoke: by name, or the expired ones (all of
// them, or those of one type).
type BulkRevokeRequest struct {
	ExpiredSelector *struct {
		All            *struct{} `json:"all"`
		CredentialType string    `json:"credential_type"`
	} `json:"expired_selector"`
	NameSelector *struct {
		Names []string `json:"names"`
	} `json:"name_selector"`
}

// BulkRevokeResponse tells which credentials were revoked and which were not, and why.
type BulkRevokeResponse struct {
	CredentialsFailed            []string `json:"credentials_failed"`
	CredentialsMarkedForDeletion []string `json:"credentials_marked_for_deletion"`
	ErrorMessage                 string   `json:"error_message,omitempty"`
}

// maxErrorMessage is the longest error_message F5 XC documents, in bytes.
const maxErrorMessage = 1024

func (k *kind) bulkRevoke(a *authority.Authority, w http.ResponseWriter, r *http.Request) error {
	var req BulkRevokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := authority.RevokeManyInput{Kind: k.holders}
	if s := req.NameSelector; s != nil {
		if len(s.Names) == 0 {
			return keyward.Invalid("name_selector.names", "must name at least one credential")
		}
		in.Names = s.Names
	}
	if s := req.ExpiredSelector; s != nil {
		in.Expired = true
		switch {
		case s.All != nil && s.CredentialType != "":
			return keyward.Invalid("expired_selector", "give either all or credential_type")
		case s.CredentialType != "":
			t, ok := k.parseType(s.CredentialType)
			if !ok {
				return keyward.Invalid("expired_selector.credential_type", typeProblem)
			}
			in.Type = t
		}
	}
	if req.NameSelector == nil && req.ExpiredSelector == nil {
		return keyward.Invalid("name_selector", "give name_selector or expired_selector")
	}
	res, err := a.RevokeCredentials(r.Context(), r.PathValue("namespace"), in)
	if err != nil {
		return err
	}
	out := BulkRevokeResponse{CredentialsFailed: []string{}, CredentialsMarkedForDeletion: res.Revoked}
	reasons := make([]string, 0, len(res.Failed))
	for _, f := range res.Failed {
		out.CredentialsFailed = append(out.CredentialsFailed, f.Name)
		reasons = append(reasons, f.Reason)
	}
	out.ErrorMessage = truncate(strings.Join(reasons, "; "), maxErrorMessage)
	return writeJSON(w, http.StatusOK, out)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
