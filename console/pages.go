package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is one screen of the console: a template of its own inside the
// layout, filled in by its script from the admin API.
type page struct {
	name, title string
	adminOnly   bool
}

// Pages are the console's screens, in the navigation's order.
var pageList = []page{
	{"overview", "Overview", false},
	{"buckets", "Buckets", false},
	{"objects", "Objects", false},
	{"playground", "Playground", false},
	{"ufops", "UFOPs", false},
	{"ufop", "UFOP", false},
	{"users", "Users, keys and limits", true},
	{"styles", "Styles of", false},
	{"usage", "Usage", false},
	{"migrations", "Migrations", false},
}

// navItem is a link of the navigation bar.
type navItem struct{ Href, Label, Page string }

var nav = []navItem{
	{"/console/", "Overview", "overview"},
	{"/console/buckets", "Buckets", "buckets"},
	{"/console/playground", "Playground", "playground"},
	{"/console/ufops", "UFOPs", "ufops"},
	{"/console/usage", "Usage", "usage"},
	{"/console/migrations", "Migrations", "migrations"},
	{"/console/users", "Users", "users"},
}

type pages struct {
	tmpl   map[string]*template.Template
	static http.Handler
}

func newPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}}
	for _, pg := range append(pageList, page{name: "signin", title: "Sign in"}) {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+pg.name+".html")
		if err != nil {
			return nil, err
		}
		p.tmpl[pg.name] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	p.static = http.StripPrefix("/console/static/", http.FileServer(http.FS(sub)))
	return p, nil
}

// view is what a page's template gets: who is signed in and the
// parameter of the path (a bucket or UFOP name). Data comes from the API.
type view struct {
	Title, Page, Param string
	// Section is the navigation entry the page belongs to.
	Section string
	User    ufop.User
	CSRF    string
	Nav     []navItem
	Message string
}

// Handler serves the console under /console/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", c.cacheStatic(c.pages.static))
	mux.HandleFunc("GET /console/signin", c.serveSignIn)
	mux.HandleFunc("POST /console/signout", c.serveSignOut)
	mux.HandleFunc("GET /console/{$}", c.page("overview"))
	mux.HandleFunc("GET /console/buckets", c.page("buckets"))
	mux.HandleFunc("GET /console/buckets/{name}", c.page("objects"))
	mux.HandleFunc("GET /console/buckets/{name}/styles", c.page("styles"))
	mux.HandleFunc("GET /console/playground", c.page("playground"))
	mux.HandleFunc("GET /console/ufops", c.page("ufops"))
	mux.HandleFunc("GET /console/usage", c.page("usage"))
	mux.HandleFunc("GET /console/migrations", c.page("migrations"))
	mux.HandleFunc("GET /console/ufops/{name}", c.page("ufop"))
	mux.HandleFunc("GET /console/users", c.page("users"))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, protocol.ConsolePath, http.StatusMovedPermanently)
	})
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, http.StatusNotFound, "signin", view{Title: "Not found", Message: "There is no console page at " + r.URL.Path + "."})
	})
	return secure(mux)
}

// secure sets the headers every console answer carries: nothing loads
// from elsewhere, nothing frames the console.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) page(name string) http.HandlerFunc {
	var pg page
	for _, p := range pageList {
		if p.name == name {
			pg = p
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		s, _, ok, err := c.session(r)
		if !ok || err != nil {
			msg := "Sign in with a one-time link: run ufopctl console and open the URL it prints."
			if err != nil {
				msg = ufop.Message(err)
			}
			c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Message: msg})
			return
		}
		u, err := c.users.User(s.User)
		if err != nil {
			c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Message: "The session's user no longer exists."})
			return
		}
		v := view{Title: pg.title, Page: name, Section: name, Param: r.PathValue("name"), User: u, CSRF: s.CSRF}
		switch name {
		case "objects", "styles":
			v.Section = "buckets"
		case "ufop":
			v.Section = "ufops"
		}
		for _, n := range nav {
			if n.Page != "users" || u.Admin {
				v.Nav = append(v.Nav, n)
			}
		}
		if pg.adminOnly && !u.Admin {
			c.render(w, http.StatusForbidden, "signin", view{Title: "Forbidden", Nav: v.Nav, User: u, CSRF: s.CSRF,
				Message: "Only admins may manage users, keys and limits."})
			return
		}
		if v.Param != "" {
			v.Title = pg.title + " " + v.Param
		}
		c.render(w, http.StatusOK, name, v)
	}
}

func (c *Console) render(w http.ResponseWriter, status int, name string, v view) {
	var buf bytes.Buffer
	if err := c.pages.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.logger.Error("console template", "page", name, "err", err)
		http.Error(w, "console: page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serveSignIn redeems ?t= for a session cookie and goes to the overview.
func (c *Console) serveSignIn(w http.ResponseWriter, r *http.Request) {
	id, s, err := c.Redeem(r.Context(), r.URL.Query().Get("t"))
	if err != nil {
		status := http.StatusUnauthorized
		if ufop.KindOf(err) != ufop.KindUnauthenticated {
			status = http.StatusServiceUnavailable
			c.logger.Warn("console sign-in failed", "err", err)
		}
		c.render(w, status, "signin", view{Title: "Sign in", Message: ufop.Message(err)})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: protocol.ConsoleCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: s.Expires, MaxAge: int(time.Until(s.Expires) / time.Second)})
	http.Redirect(w, r, protocol.ConsolePath, http.StatusSeeOther)
}

// serveSignOut ends the session (a change: CSRF and Origin are checked).
func (c *Console) serveSignOut(w http.ResponseWriter, r *http.Request) {
	if err := c.signOut(r); err != nil {
		status := http.StatusForbidden
		var ue *ufop.Error
		if errors.As(err, &ue) && ue.Kind == ufop.KindUnauthenticated {
			status = http.StatusUnauthorized
		}
		http.Error(w, ufop.Message(err), status)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: protocol.ConsoleCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// SignInURL is the sign-in link of token on an admin listener's base URL.
func SignInURL(base, token string) string {
	return base + protocol.ConsoleSignInPath + "?t=" + url.QueryEscape(token)
}
