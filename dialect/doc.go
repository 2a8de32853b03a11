// Package dialect holds nothing but this note; its subpackages serve vendor APIs over
// keyward's one core, one package per vendor document in ../shared/seeds/.
//
// The rules every dialect package follows (the lead's decisions):
//
//   - A dialect is a thin translation layer and owns no business rule. It parses the vendor's
//     request, authenticates (a peer.Keys saying where its key lives, then keyward.NewContext),
//     calls one authority method, and renders the vendor's shapes. No SQL, no store access, no
//     role or validity checks of its own: the authority decides.
//   - The HTTP plumbing is shared, never copied: peer (the caller's address and key),
//     httpapi/jsonbody (reading a request body, with the unknown-field policy and wording of
//     the vendor) and httpapi/refusal (timeouts, Retry-After and field order of an error).
//   - When the vendor API needs an operation the authority lacks, it is added to the authority
//     as a generic, well-named method in a new file named for the capability (never after the
//     vendor), with its own tests. Existing authority files, the Store interface and the store
//     packages are not edited by dialect work.
//   - The package exports New(a *authority.Authority, opts Options) *Handler and
//     (*Handler).Register(mount func(pattern string, h http.Handler)); keyward serve passes
//     httpapi's (*Server).Mount, so every route runs behind the shared middleware (request id,
//     access log, panic recovery, 1 MiB body limit, deadline). Dialects do not edit cmd/keyward.
//   - One function per dialect maps keyward error codes to the vendor's status and body.
//     Internal errors say only "internal error"; no secret or password is ever echoed.
//   - Keys readable again after creation come from authority.RevealKey when the project keeps
//     recoverable keys, else authority.MaskedKey.
//   - Tests send the seed's own example requests (a copy of the seed in testdata/), check every
//     documented field and status, and compare response bodies with golden files whose
//     volatile fields are normalised. docs/dialects/<name>.md shows every operation with curl.
package dialect
