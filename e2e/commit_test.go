package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// commitCutter is a TCP proxy in front of PostgreSQL. Once armed, on the
// first connection that has sent "INSERT INTO images" it forwards the
// COMMIT that follows, waits for the server's answer (so it has carried it
// out), then cuts the connection: with dropReply the answer never reaches
// the client, which sees COMMIT fail although the transaction is durable.
type commitCutter struct {
	ln    net.Listener
	to    string
	armed atomic.Bool
	// dropReply: hold back the server's answer to COMMIT, so the client
	// cannot know whether it committed; otherwise the answer gets through
	// and the connection dies just after (the next query fails).
	dropReply bool
	cut       atomic.Int32
	wg        sync.WaitGroup
}

func newCommitCutter(t *testing.T, upstream string) *commitCutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &commitCutter{ln: ln, to: upstream}
	go c.accept()
	t.Cleanup(func() { ln.Close(); c.wg.Wait() })
	return c
}

func (c *commitCutter) accept() {
	for {
		down, err := c.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", c.to)
		if err != nil {
			down.Close()
			continue
		}
		var hold atomic.Bool
		var committing atomic.Bool
		replied := make(chan struct{})
		c.wg.Add(2)
		go func() { defer c.wg.Done(); serverToClient(down, up, &hold, &committing, replied); down.Close() }()
		go func() { defer c.wg.Done(); c.clientToServer(down, up, &hold, &committing, replied); up.Close() }()
	}
}

// serverToClient closes replied at the first bytes from the server once
// committing is set: the answer to the COMMIT (the client sends nothing
// after it until answered, and every earlier answer has reached it).
func serverToClient(down, up net.Conn, hold, committing *atomic.Bool, replied chan struct{}) {
	buf := make([]byte, 64<<10)
	answered := false
	for {
		n, err := up.Read(buf)
		if n > 0 && !hold.Load() {
			if _, werr := down.Write(buf[:n]); werr != nil {
				return
			}
		}
		if n > 0 && !answered && committing.Load() {
			answered = true
			close(replied)
		}
		if err != nil {
			return
		}
	}
}

func (c *commitCutter) clientToServer(down, up net.Conn, hold, committing *atomic.Bool, replied chan struct{}) {
	buf := make([]byte, 64<<10)
	sawInsert := false
	for {
		n, err := down.Read(buf)
		if n > 0 {
			b := buf[:n]
			sawInsert = sawInsert || bytes.Contains(b, []byte("INSERT INTO images"))
			cutNow := sawInsert && c.armed.Load() && bytes.Contains(bytes.ToLower(b), []byte("commit")) && c.armed.CompareAndSwap(true, false)
			if cutNow {
				hold.Store(c.dropReply) // before the COMMIT goes, so its answer is caught
				committing.Store(true)
			}
			if _, werr := up.Write(b); werr != nil {
				return
			}
			if cutNow {
				// Cut once the server has answered, so the COMMIT is carried
				// out (a fixed pause was not always long enough under load:
				// ingest-svc's check then found no row yet). Bounded, in case
				// no answer comes; the test then fails on the upload.
				select {
				case <-replied:
				case <-time.After(30 * time.Second):
				}
				c.cut.Add(1)
				down.Close()
				up.Close()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// An upload whose COMMIT reply is lost (the connection dropped right
// after the server committed) is still answered as stored, and its blobs
// stay: never a recorded image without its file.
func TestUploadCommitReplyLost(t *testing.T) {
	t.Run("COMMIT answer lost", func(t *testing.T) { uploadThroughCutter(t, true) })
	t.Run("connection lost after COMMIT", func(t *testing.T) { uploadThroughCutter(t, false) })
}

func uploadThroughCutter(t *testing.T, dropReply bool) {
	direct := dbtest.NewDatabase(t)
	u, err := neturl.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	cutter := newCommitCutter(t, u.Host)
	cutter.dropReply = dropReply
	u.Host = cutter.ln.Addr().String()
	s := newStack(t, "local", map[string]string{"DATABASE_URL": u.String()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}

	cutter.armed.Store(true)
	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: paths[0]}}, client.UploadOptions{BandLayout: "RGN"})
	// With the COMMIT answer let through, the upload may be answered before
	// the proxy cuts the connection: wait for the cut (bounded).
	for deadline := time.Now().Add(5 * time.Second); cutter.cut.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if cutter.cut.Load() != 1 {
		t.Fatalf("the proxy cut %d commits, want 1 (upload error: %v)", cutter.cut.Load(), err)
	}
	if err != nil {
		t.Fatalf("upload whose COMMIT reply was lost: %v; want it answered as stored", err)
	}
	img, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: resp.GetImageId()})
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED || len(img.GetFiles()) != 1 {
		t.Fatalf("image %v, want uploaded with one file", img)
	}
	if _, err := s.blobs.Size(ctx, img.GetFiles()[0].GetBlobKey()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		t.Errorf("the recorded image's blob %s: %v", img.GetFiles()[0].GetBlobKey(), err)
	}
}
