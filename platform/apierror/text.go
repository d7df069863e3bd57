package apierror

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// StorableText refuses a message with a string that PostgreSQL cannot
// store: a NUL character (U+0000) is refused in text columns and in jsonb
// alike, so without this check the statement fails, and with it every
// other item of the same transaction, as a database error. The error names
// the first such field below prefix ("" for a request's own fields), e.g.
// "analysis.warnings[2]".
func StorableText(m proto.Message, prefix string) error {
	if path, ok := nulField(m.ProtoReflect(), prefix); ok {
		return BadField(path, "contains a NUL character (U+0000), which cannot be stored")
	}
	return nil
}

func nulField(m protoreflect.Message, prefix string) (path string, found bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		if prefix != "" {
			name = prefix + "." + name
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if path, found = nulValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i)); found {
					return false
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := k.String()
				if strings.ContainsRune(key, 0) {
					path, found = name, true
					return false
				}
				path, found = nulValue(fd.MapValue(), mv, fmt.Sprintf("%s[%q]", name, key))
				return !found
			})
		default:
			path, found = nulValue(fd, v, name)
		}
		return !found
	})
	return path, found
}

func nulValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) (string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return path, strings.ContainsRune(v.String(), 0)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return nulField(v.Message(), path)
	}
	return "", false
}
