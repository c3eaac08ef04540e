package ghcremu

import (
	"net/http"
	"slices"
	"strconv"
)

// EndpointPackages is the owner's package listing: GET /orgs/{org}/packages and
// GET /users/{username}/packages, with package_type=container.
const EndpointPackages = "GET packages"

// handlePackages lists the owner's container packages, oldest first, paginated with per_page (30
// by default, at most 100) and page and a Link header, as GitHub's "list packages for an
// organization" and "for a user" do. package_type is required (400 without it, as GitHub
// answers); a type other than container lists nothing, since the emulator holds containers
// only. An owner of the other kind answers 404.
func (e *Emulator) handlePackages(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	switch q.Get("package_type") {
	case "":
		writeError(w, http.StatusBadRequest, "package_type is required", docPackages)
		return
	case "container":
	default:
		writeJSON(w, http.StatusOK, []packageJSON{})
		return
	}
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, MaxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	e.mu.Lock()
	if e.users[rt.owner] != (rt.ownerKind == "users") {
		e.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found", docREST)
		return
	}
	var pkgs []*pkg
	for _, p := range e.pkgs {
		if p.owner == rt.owner {
			pkgs = append(pkgs, p)
		}
	}
	slices.SortFunc(pkgs, func(a, b *pkg) int { return int(a.id - b.id) })
	last := max(1, (len(pkgs)+perPage-1)/perPage)
	from, to := min((page-1)*perPage, len(pkgs)), min(page*perPage, len(pkgs))
	out := make([]packageJSON, 0, to-from)
	for _, p := range pkgs[from:to] {
		out = append(out, e.packageJSONLocked(r, rt.ownerKind, p))
	}
	e.mu.Unlock()
	if link := linkHeader(r, page, last); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, out)
}
