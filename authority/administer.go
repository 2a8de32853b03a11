package authority

import (
	"context"

	"github.com/keyward/keyward"
)

// AdministeredProject returns the project named by ref (its slug or numeric id) when the caller
// may administer it: projects:admin there or globally, which the built-in owner and admin roles
// hold and no other built-in role does. A surface whose operations its vendor reserves to a
// project's owners calls it first and then the operation itself, which checks its own permission
// as usual, so that such a surface asks for both and decides nothing itself.
//
// A caller with no access to the project at all gets ENotFound, as if it did not exist; one that
// can see it without projects:admin gets EForbidden, and the refusal is audited. Nothing is
// written when the caller may administer the project.
func (a *Authority) AdministeredProject(ctx context.Context, ref string) (*keyward.Project, error) {
	return a.resolveProject(ctx, ref, keyward.PermProjectsAdmin)
}
