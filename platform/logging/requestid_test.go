package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestRequestIDInEveryRecordOfTheContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "json", "info").With("service", "test")
	ctx := WithRequestID(context.Background(), "req-42")
	log.InfoContext(ctx, "one", "k", 1)
	log.WithGroup("g").InfoContext(ctx, "two")
	log.InfoContext(context.Background(), "three")

	var got []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	if got[0]["request_id"] != "req-42" || got[0]["service"] != "test" {
		t.Errorf("record one: %v", got[0])
	}
	if g, _ := got[1]["g"].(map[string]any); g["request_id"] != "req-42" {
		t.Errorf("record two (in a group): %v", got[1])
	}
	if _, ok := got[2]["request_id"]; ok {
		t.Errorf("record three has a request id without one in its context: %v", got[2])
	}
}
