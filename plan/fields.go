package plan

import (
	"encoding/json"
	"slices"
	"strings"
)

// Field is one named group a tag-scheme pattern captured from a tag, or a constant the pattern
// declares.
type Field struct {
	Name, Value string
}

// Fields are a tag's fields, sorted by name, each name once. In JSON they are an object, as a
// map would be; in memory a short slice, which a plan of 130k tagged manifests holds far more
// cheaply than 130k maps.
type Fields []Field

// Get returns the value of the named field, or "" when there is none.
func (f Fields) Get(name string) string {
	v, _ := f.Lookup(name)
	return v
}

// Lookup returns the value of the named field and whether there is one.
func (f Fields) Lookup(name string) (string, bool) {
	for _, x := range f {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// Map returns the fields as a map (nil when there are none).
func (f Fields) Map() map[string]string {
	if len(f) == 0 {
		return nil
	}
	m := make(map[string]string, len(f))
	for _, x := range f {
		m[x.Name] = x.Value
	}
	return m
}

// FieldsOf returns the fields of a map, sorted by name.
func FieldsOf(m map[string]string) Fields {
	if len(m) == 0 {
		return nil
	}
	f := make(Fields, 0, len(m))
	for k, v := range m {
		f = append(f, Field{k, v})
	}
	f.sort()
	return f
}

func (f Fields) sort() {
	slices.SortFunc(f, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
}

// MarshalJSON writes the fields as a JSON object, keys sorted, as encoding/json writes a map.
func (f Fields) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 16+32*len(f))
	b = append(b, '{')
	for i, x := range f {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, x.Name); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendJSONString(b, x.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string: directly when it is plain printable ASCII (tag
// fields nearly always are), else through encoding/json.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			return append(b, q...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a JSON object of string values.
func (f *Fields) UnmarshalJSON(data []byte) error {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*f = FieldsOf(m)
	return nil
}
