package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/migrate"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// Bulk migration (SPEC §11): the gateway records jobs and answers for
// them; the agents' migrate.Runner does the work.

// DefaultMigrateWorkers is a job's copies at once when --workers is not
// given; MaxMigrateWorkers bounds it.
const (
	DefaultMigrateWorkers = 8
	MaxMigrateWorkers     = 256
)

// migrations is the gateway's handle on the job state and the work queue,
// made at first use (the queue needs NATS, which a gateway may lack).
type migrations struct {
	mu sync.Mutex
	wq *migrate.WorkQueue
}

func (g *Gateway) migrateJobs() *migrate.Jobs {
	return migrate.NewJobs(g.deps.Etcd, protocol.MigratePrefix)
}

func (g *Gateway) migrateQueue(ctx context.Context) (*migrate.WorkQueue, error) {
	m := g.migrate
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wq != nil {
		return m.wq, nil
	}
	if g.deps.Queue == nil {
		return nil, ufop.Errorf(ufop.KindUnavailable, "migrations need NATS, which this gateway is not connected to")
	}
	wq, err := migrate.NewWorkQueue(ctx, g.deps.Queue.Conn())
	if err != nil {
		return nil, err
	}
	m.wq = wq
	return wq, nil
}

func (g *Gateway) migrateOpener(wq *migrate.WorkQueue) migrate.Opener {
	return migrate.Opener{Egress: g.egress, MaxObjectBytes: storage.DefaultMaxObjectBytes, Lists: wq}
}

func (g *Gateway) mountMigrations(v1 *echo.Group) {
	v1.GET("/migrations", g.listMigrations)
	v1.PUT("/migrations/:name", g.startMigration)
	v1.PUT("/migrations/:name/list", g.putMigrationList)
	v1.GET("/migrations/:name", g.migrationStatus)
	v1.GET("/migrations/:name/verify", g.verifyMigration)
	v1.POST("/migrations/:name/pause", g.pauseMigration)
	v1.POST("/migrations/:name/resume", g.resumeMigration)
	v1.DELETE("/migrations/:name", g.removeMigration)
}

// migrationListBody reports the streamed upload of a key list.
func migrationListBody(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/migrations/") && strings.HasSuffix(r.URL.Path, "/list")
}

// ownJob returns job name if the caller may see it; another user's job is
// reported missing.
func (g *Gateway) ownJob(c echo.Context, name string) (migrate.Job, error) {
	if err := migrate.ValidName(name); err != nil {
		return migrate.Job{}, err
	}
	job, _, err := g.migrateJobs().Get(c.Request().Context(), name)
	if err != nil {
		return job, err
	}
	if u := userOf(c); job.Owner != u.Name && !u.Admin {
		return job, ufop.Errorf(ufop.KindNotFound, "no such migration %q", name)
	}
	return job, nil
}

// putMigrationList stores the key list of an http(s) job before its
// start. The body is spooled to a temp file while it is hashed and checked
// line by line; only a list whose signature and every line are good is
// stored.
func (g *Gateway) putMigrationList(c echo.Context) error {
	name := c.Param("name")
	if err := migrate.ValidName(name); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if job, _, err := g.migrateJobs().Get(ctx, name); err == nil {
		if u := userOf(c); job.Owner != u.Name && !u.Admin {
			return ufop.Errorf(ufop.KindConflict, "migration name %q is taken by another user", name)
		}
		if job.State == protocol.MigrateRunning || job.State == protocol.MigratePaused {
			return ufop.Errorf(ufop.KindConflict, "migration %q is %s; its key list cannot change", name, job.State)
		}
	} else if ufop.KindOf(err) != ufop.KindNotFound {
		return err
	}
	wq, err := g.migrateQueue(ctx)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "ufop-migrate-list-*")
	if err != nil {
		return fmt.Errorf("gateway: spool key list: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	var keys int64
	go func() {
		n, err := migrate.CheckList(pr)
		keys = n
		pr.CloseWithError(err) // stops the copy at a bad line
		checked <- err
	}()
	_, cerr := io.Copy(io.MultiWriter(f, h, pw), c.Request().Body)
	pw.Close()
	if err := <-checked; err != nil {
		return err
	}
	if cerr != nil {
		return ufop.Errorf(ufop.KindInvalid, "reading the key list: %v", cerr)
	}
	if verify, _ := c.Get(ctxVerify).(func(string) error); verify != nil {
		if err := verify(hex.EncodeToString(h.Sum(nil))); err != nil {
			return err
		}
	}
	if keys == 0 {
		return ufop.Errorf(ufop.KindInvalid, "the key list is empty")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("gateway: spool key list: %w", err)
	}
	if err := wq.PutList(ctx, name, f); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int64{"keys": keys})
}

func (g *Gateway) startMigration(c echo.Context) error {
	name := c.Param("name")
	if err := migrate.ValidName(name); err != nil {
		return err
	}
	var req protocol.MigrateStart
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	spec, err := migrate.ParseSource(req.From)
	if err != nil {
		return err
	}
	u := userOf(c)
	if spec.Scheme == migrate.SchemeFile && !u.Admin {
		return ufop.Errorf(ufop.KindPermission, "source %q: only admins may migrate from file://", req.From)
	}
	if req.To == "" {
		return ufop.Errorf(ufop.KindInvalid, "migration %q: --to BUCKET is required", name)
	}
	if _, err := g.ownBucket(c, req.To); err != nil {
		return err
	}
	switch {
	case req.Workers == 0:
		req.Workers = DefaultMigrateWorkers
	case req.Workers < 1 || req.Workers > MaxMigrateWorkers:
		return ufop.Errorf(ufop.KindInvalid, "migration %q: --workers %d is outside 1..%d", name, req.Workers, MaxMigrateWorkers)
	}
	ctx := c.Request().Context()
	jobs := g.migrateJobs()
	if old, _, err := jobs.Get(ctx, name); err == nil {
		if old.Owner != u.Name {
			return ufop.Errorf(ufop.KindConflict, "migration name %q is taken by another user", name)
		}
		if old.State == protocol.MigrateRunning || old.State == protocol.MigratePaused {
			return ufop.Errorf(ufop.KindConflict, "migration %q is %s; pause, wait for it or rm it first", name, old.State)
		}
	} else if ufop.KindOf(err) != ufop.KindNotFound {
		return err
	}
	wq, err := g.migrateQueue(ctx)
	if err != nil {
		return err
	}
	job := migrate.Job{Name: name, From: req.From, To: req.To, Owner: u.Name, Workers: req.Workers,
		AccessKey: req.AccessKey, SecretKey: req.SecretKey}
	if err := g.probeSource(ctx, wq, spec, job); err != nil {
		return err
	}
	// Keys an earlier run left queued go; the new run lists afresh.
	if err := wq.Purge(ctx, name); err != nil {
		return err
	}
	if job, err = jobs.Start(ctx, job); err != nil {
		return err
	}
	g.logger.Info("migration started", "job", name, "run", job.Run, "from", redactSource(req.From), "to", req.To, "user", u.Name)
	st, _, err := jobs.Status(ctx, name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// probeSource reads the first of the source before a job is recorded, so
// that a wrong scheme, address, key or endpoint is the start's error and
// leaves nothing behind.
func (g *Gateway) probeSource(ctx context.Context, wq *migrate.WorkQueue, spec migrate.Spec, job migrate.Job) error {
	if spec.Scheme == migrate.SchemeHTTP {
		if err := g.egress.CheckURL(spec.Base); err != nil {
			return fmt.Errorf("source %s: %w", spec.Base, err)
		}
		ok, err := wq.HasList(ctx, job.Name)
		if err != nil {
			return err
		}
		if !ok {
			return ufop.Errorf(ufop.KindInvalid, "source %q: an http(s) source needs a key list: --list FILE", job.From)
		}
	}
	src, err := g.migrateOpener(wq).Open(ctx, job)
	if err != nil {
		return err
	}
	defer src.Close()
	entries, _, _, err := src.Page(ctx, "", 1)
	if err != nil {
		return err
	}
	if spec.Scheme == migrate.SchemeHTTP && len(entries) > 0 {
		// The origin must answer; a missing first key is the job's
		// business, not the start's.
		rc, _, err := src.Open(ctx, entries[0].Key)
		if err == nil {
			rc.Close()
		} else if k := ufop.KindOf(err); k != ufop.KindNotFound && k != ufop.KindTooLarge && k != ufop.KindInvalid {
			return err
		}
	}
	return nil
}

// redactSource drops the query of an s3:// URL for logs (it holds no
// keys, but endpoints are the operator's business).
func redactSource(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

func (g *Gateway) migrationStatus(c echo.Context) error {
	if _, err := g.ownJob(c, c.Param("name")); err != nil {
		return err
	}
	st, _, err := g.migrateJobs().Status(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (g *Gateway) listMigrations(c echo.Context) error {
	ctx := c.Request().Context()
	jobs := g.migrateJobs()
	all, err := jobs.List(ctx)
	if err != nil {
		return err
	}
	u := userOf(c)
	out := []protocol.MigrateStatus{}
	for _, j := range all {
		if j.Owner != u.Name && !u.Admin {
			continue
		}
		st, _, err := jobs.Status(ctx, j.Name)
		if err != nil {
			continue // removed meanwhile
		}
		st.Failures = nil
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b protocol.MigrateStatus) int { return strings.Compare(a.Name, b.Name) })
	return c.JSON(http.StatusOK, map[string]any{"migrations": out})
}

func (g *Gateway) setMigrationState(c echo.Context, from []string, to string) error {
	job, err := g.ownJob(c, c.Param("name"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := g.migrateJobs().SetState(ctx, job.Name, 0, from, to, ""); err != nil {
		return err
	}
	st, _, err := g.migrateJobs().Status(ctx, job.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (g *Gateway) pauseMigration(c echo.Context) error {
	return g.setMigrationState(c, []string{protocol.MigrateRunning}, protocol.MigratePaused)
}

func (g *Gateway) resumeMigration(c echo.Context) error {
	return g.setMigrationState(c, []string{protocol.MigratePaused}, protocol.MigrateRunning)
}

func (g *Gateway) removeMigration(c echo.Context) error {
	job, err := g.ownJob(c, c.Param("name"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The record goes first: workers and the lister stop on their next
	// look; then the queued keys and the list go.
	if err := g.migrateJobs().Delete(ctx, job.Name); err != nil {
		return err
	}
	wq, err := g.migrateQueue(ctx)
	if err != nil {
		return err
	}
	if err := wq.Purge(ctx, job.Name); err != nil {
		return err
	}
	if err := wq.DeleteList(ctx, job.Name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (g *Gateway) verifyMigration(c echo.Context) error {
	job, err := g.ownJob(c, c.Param("name"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	wq, err := g.migrateQueue(ctx)
	if err != nil {
		return err
	}
	src, err := g.migrateOpener(wq).Open(ctx, job)
	if err != nil {
		return err
	}
	defer src.Close()
	v, err := migrate.Verify(ctx, src, g.store, job.To, 1000)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}
