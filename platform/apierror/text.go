package apierror

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// StorableText refuses a message with a string that cannot be sent or
// stored, naming the first such field below prefix ("" for a request's own
// fields), e.g. "analysis.warnings[2]":
//   - a NUL character (U+0000): PostgreSQL refuses it in text columns and
//     in jsonb alike, so without this check the statement fails, and with
//     it every other item of the same transaction, as a database error;
//   - bytes that are not UTF-8: protobuf refuses to marshal such a string,
//     which gRPC reports as an Internal error of the sender (a REST query
//     with %FF became an HTTP 500).
func StorableText(m proto.Message, prefix string) error {
	if path, why, ok := badText(m.ProtoReflect(), prefix); ok {
		return BadField(path, "%s", why)
	}
	return nil
}

// textProblem says what is wrong with s, or "" if nothing is.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		for i, r := range s {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
					return fmt.Sprintf("is not UTF-8 text (byte %#x at offset %d); send names and text as UTF-8", s[i], i)
				}
			}
		}
	}
	if strings.ContainsRune(s, 0) {
		return "contains a NUL character (U+0000), which cannot be stored"
	}
	return ""
}

func badText(m protoreflect.Message, prefix string) (path, why string, found bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		if prefix != "" {
			name = prefix + "." + name
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if path, why, found = badValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i)); found {
					return false
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := k.String()
				if why = textProblem(key); why != "" {
					path, found = name, true
					return false
				}
				path, why, found = badValue(fd.MapValue(), mv, fmt.Sprintf("%s[%q]", name, key))
				return !found
			})
		default:
			path, why, found = badValue(fd, v, name)
		}
		return !found
	})
	return path, why, found
}

func badValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) (string, string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		why := textProblem(v.String())
		return path, why, why != ""
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return badText(v.Message(), path)
	}
	return "", "", false
}

// TextCheckDialOptions check every request a client sends with
// StorableText before it is marshalled: a string that is not UTF-8 then
// fails as InvalidArgument naming its field, where marshalling would fail
// it as Internal. For the clients that pass on what people type or what
// the file system holds: the REST gateway, REST uploads, the CLI.
func TextCheckDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if m, ok := req.(proto.Message); ok {
				if err := StorableText(m, ""); err != nil {
					return err
				}
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &textCheckedClientStream{ClientStream: cs}, nil
		}),
	}
}

type textCheckedClientStream struct{ grpc.ClientStream }

func (s *textCheckedClientStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		if err := StorableText(pm, ""); err != nil {
			return err
		}
	}
	return s.ClientStream.SendMsg(m)
}
