package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// testCA writes a CA certificate and a server certificate it signed for
// 127.0.0.1 and localhost; it returns the CA, certificate and key files.
func testCA(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canopy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "canopy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// With TLS_CERT_FILE/TLS_KEY_FILE set, gRPC and HTTP both speak TLS, the
// gateway and the REST relays dial their own port over TLS, analysis-svc
// reaches ingest-svc over TLS (INGEST_TLS_CA_FILE) with its worker key, and
// the Go client does the same with WithTLS and WithAPIKey.
func TestTLSEndToEnd(t *testing.T) {
	caFile, certFile, keyFile := testCA(t)
	s, k, _ := newAuthStack(t, "local", map[string]string{
		"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "INGEST_TLS_CA_FILE": caFile,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.runAnalysis()

	tlsOpt, err := client.WithTLS(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(s.ingestAddr, s.statusAddr, tlsOpt, client.WithAPIKey(k.adminA, true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.UploadFiles(ctx, []client.File{{Path: mustSample(t)}}, client.UploadOptions{BandLayout: "RGN"})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetImageId()
	var last canopyv1.ImageStatus
	if err := c.Watch(ctx, id, func(m *canopyv1.WatchImageResponse) { last = m.GetImage().GetStatus() }); err != nil {
		t.Fatal(err)
	}
	if last != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Fatalf("image ended %s, want completed (analysis-svc over TLS)", last)
	}

	// REST over HTTPS, through the gateway's TLS self-dial.
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	for _, tc := range []struct {
		url, key string
		want     int
	}{
		{"https://" + s.statusHTTP + "/v1/images/" + id, k.viewerA, 200},
		{"https://" + s.statusHTTP + "/v1/images/" + id, "", 401},
		{"https://" + s.statusHTTP + "/healthz", "", 200},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		r, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		r.Body.Close()
		if r.StatusCode != tc.want {
			t.Errorf("GET %s: HTTP %d, want %d", tc.url, r.StatusCode, tc.want)
		}
	}

	// Plaintext to a TLS port fails: nothing is served in clear.
	cc, err := grpc.NewClient(s.statusAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = canopyv1.NewStatusServiceClient(cc).GetImage(withKey(ctx, k.viewerA), &canopyv1.GetImageRequest{ImageId: id})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext gRPC to a TLS port: %v, want Unavailable", err)
	}
	// And the client refuses to send a key it was told needs TLS over
	// plaintext: gRPC rejects the combination when dialling.
	if plain, err := client.Dial(s.ingestAddr, s.statusAddr, client.WithAPIKey(k.viewerA, true)); err == nil {
		plain.Close()
		t.Error("a client with a key marked secure dialled in plaintext")
	}
}
