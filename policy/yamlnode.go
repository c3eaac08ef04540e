package policy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// maxErrors bounds how many problems one Parse reports: enough to fix a file in one go, not a
// wall of text for a file that is not a policy at all.
const maxErrors = 20

// decoder turns the YAML syntax tree of a policy file into values, strictly: unknown keys, wrong
// types and bad values are errors naming file:line:column and the field's path. Decoding goes on
// after an error, so one run reports every problem (up to maxErrors).
type decoder struct {
	file    string
	anchors map[string]ast.Node
	errs    []*Error
	// named lists every kind the scheme names; broken, those with a pattern in error. Rules
	// for them are checked without cascading errors (no "no such kind", no "no field").
	named, broken []string
}

// field is one key of a YAML mapping.
type field struct {
	key   string
	keyAt ast.Node
	value ast.Node
	path  string
}

// parseYAML parses data into the body node of its single document; nil for an empty file.
func (d *decoder) parseYAML(data []byte) ast.Node {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			pos := ye.GetToken().Position
			d.errs = append(d.errs, &Error{File: d.file, Line: pos.Line, Column: pos.Column, Msg: "YAML syntax: " + ye.GetMessage()})
		} else {
			d.errs = append(d.errs, &Error{File: d.file, Msg: "YAML syntax: " + err.Error()})
		}
		return nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	if len(docs) > 1 {
		d.errorf(docs[1].Body, "", "a policy file holds one YAML document, found %d", len(docs))
		return nil
	}
	d.anchors = map[string]ast.Node{}
	for _, n := range ast.Filter(ast.AnchorType, docs[0].Body) {
		a := n.(*ast.AnchorNode)
		if a.Name != nil {
			d.anchors[a.Name.GetToken().Value] = a.Value
		}
	}
	return docs[0].Body
}

// errorf records a problem at node n (the file's start when n is nil).
func (d *decoder) errorf(n ast.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	e.Line, e.Column = position(n)
	d.errs = append(d.errs, e)
}

// position is where a node starts: a block mapping at its first key, a key-value pair at its
// key, anything else at its first token. 0, 0 when unknown.
func position(n ast.Node) (line, column int) {
	switch v := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return position(v.Values[0])
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return position(v.Key)
		}
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Position.Line, tk.Position.Column
	}
	return 0, 0
}

// err returns the recorded problems sorted by position, joined, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	errs := make([]error, 0, min(len(d.errs), maxErrors)+1)
	for i, e := range d.errs {
		if i == maxErrors {
			errs = append(errs, fmt.Errorf("%w: %s: %d more problems not shown", ErrInvalidPolicy, d.file, len(d.errs)-maxErrors))
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// resolve unwraps anchors, aliases and explicit tags, returning the value node (nil for null).
func (d *decoder) resolve(n ast.Node) ast.Node {
	for depth := 0; depth < 32 && n != nil; depth++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			n = d.anchors[name]
		case *ast.TagNode:
			n = v.Value
		case *ast.NullNode:
			return nil
		default:
			return n
		}
	}
	return n
}

// describe names a node's YAML type for error messages.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.IntegerNode:
		return "the integer " + v.GetToken().Value
	case *ast.FloatNode:
		return "the number " + v.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + v.GetToken().Value
	case *ast.StringNode:
		return strconv.Quote(v.Value)
	case *ast.LiteralNode:
		return "a block string"
	default:
		return n.Type().String()
	}
}

// mapping decodes a mapping whose keys must be among known, returning its fields in file order.
// at is the node to blame when n is not a mapping (n itself may be nil).
func (d *decoder) mapping(n, at ast.Node, path string, known ...string) ([]field, bool) {
	v := d.resolve(n)
	var values []*ast.MappingValueNode
	switch m := v.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		d.errorf(blame(n, at), path, "must be a mapping, got %s", describe(v))
		return nil, false
	}
	fields := make([]field, 0, len(values))
	ok := true
	for _, mv := range values {
		if mv.Key == nil || mv.Key.IsMergeKey() {
			d.errorf(mv, path, "merge keys (<<) are not supported in a policy file")
			ok = false
			continue
		}
		key := d.resolve(mv.Key)
		s, isStr := key.(*ast.StringNode)
		if !isStr {
			d.errorf(mv.Key, path, "keys must be plain strings, got %s", describe(key))
			ok = false
			continue
		}
		fp := joinPath(path, s.Value)
		if known != nil && !contains(known, s.Value) {
			d.errorf(mv.Key, fp, "unknown key (known keys: %s)", strings.Join(known, ", "))
			ok = false
			continue
		}
		fields = append(fields, field{key: s.Value, keyAt: mv.Key, value: mv.Value, path: fp})
	}
	return fields, ok
}

// blame returns n when it is a value written in the file, else at (for a missing or null value,
// whose position the parser makes up). With no at (the file's top level), a null written out
// ("~", "null") is blamed itself, so the problem still has a line and column.
func blame(n, at ast.Node) ast.Node {
	if _, null := n.(*ast.NullNode); null || n == nil || n.GetToken() == nil {
		if at == nil && n != nil && n.GetToken() != nil {
			return n
		}
		return at
	}
	return n
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str decodes a scalar as a string. Numbers and booleans are taken as written, so `bench: 2024`
// is the string "2024"; null, lists and mappings are errors.
func (d *decoder) str(f field) (string, bool) {
	switch v := d.resolve(f.value).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	default:
		d.errorf(blame(f.value, f.keyAt), f.path, "must be a string, got %s", describe(v))
		return "", false
	}
}

// nonEmpty decodes a string that must not be empty.
func (d *decoder) nonEmpty(f field) (string, bool) {
	s, ok := d.str(f)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(blame(f.value, f.keyAt), f.path, "must not be empty")
		return "", false
	}
	return s, ok
}

// positiveInt decodes a whole number greater than zero, written as a YAML integer.
func (d *decoder) positiveInt(f field) (int, bool) {
	v := d.resolve(f.value)
	n, isInt := v.(*ast.IntegerNode)
	if !isInt {
		d.errorf(blame(f.value, f.keyAt), f.path, "must be a positive integer, got %s", describe(v))
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.GetToken().Value, "_", ""), 0, 32)
	if err != nil || i <= 0 {
		d.errorf(f.value, f.path, "must be a positive integer, got %s", n.GetToken().Value)
		return 0, false
	}
	return int(i), true
}

// boolean decodes true or false.
func (d *decoder) boolean(f field) (bool, bool) {
	v := d.resolve(f.value)
	b, isBool := v.(*ast.BoolNode)
	if !isBool {
		d.errorf(blame(f.value, f.keyAt), f.path, "must be true or false, got %s", describe(v))
		return false, false
	}
	return b.Value, true
}

// duration decodes a policy duration ("7d", "1d12h"; see ParseDuration) greater than zero.
func (d *decoder) duration(f field) (time.Duration, bool) {
	v := d.resolve(f.value)
	var s string
	switch n := v.(type) {
	case *ast.StringNode:
		s = n.Value
	case *ast.IntegerNode:
		s = n.GetToken().Value
	default:
		d.errorf(blame(f.value, f.keyAt), f.path, "must be a duration such as 7d or 1d12h, got %s", describe(v))
		return 0, false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.errorf(f.value, f.path, "%v", err)
		return 0, false
	}
	if dur <= 0 {
		d.errorf(f.value, f.path, "must be longer than zero")
		return 0, false
	}
	return dur, true
}

// regex decodes a regular expression (RE2 syntax). When anchored, it must match a whole string:
// ^(?:...)$ is added.
func (d *decoder) regex(f field, anchored bool) (*regexp.Regexp, bool) {
	src, ok := d.nonEmpty(f)
	if !ok {
		return nil, false
	}
	full := src
	if anchored {
		full = "^(?:" + src + ")$"
	}
	re, err := regexp.Compile(full)
	if err != nil {
		// Compile the source as written, so the message quotes the user's own text.
		if _, e2 := regexp.Compile(src); e2 != nil {
			err = e2
		}
		d.errorf(f.value, f.path, "invalid regular expression: %v", err)
		return nil, false
	}
	return re, true
}

// list decodes a YAML list, returning its items as fields whose paths carry the index.
func (d *decoder) list(f field) ([]field, bool) {
	v := d.resolve(f.value)
	seq, isSeq := v.(*ast.SequenceNode)
	if !isSeq {
		d.errorf(blame(f.value, f.keyAt), f.path, "must be a list, got %s", describe(v))
		return nil, false
	}
	out := make([]field, len(seq.Values))
	for i, item := range seq.Values {
		at := item
		if at == nil || at.GetToken() == nil {
			at = seq
		}
		out[i] = field{key: strconv.Itoa(i), keyAt: at, value: item, path: fmt.Sprintf("%s[%d]", f.path, i)}
	}
	return out, true
}

// stringList decodes a list of strings.
func (d *decoder) stringList(f field) ([]string, bool) {
	items, ok := d.list(f)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, good := d.nonEmpty(it)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// stringMap decodes a mapping of strings to strings.
func (d *decoder) stringMap(f field) (map[string]string, bool) {
	fields, ok := d.mapping(f.value, f.keyAt, f.path)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(fields))
	for _, kv := range fields {
		s, good := d.str(kv)
		ok = ok && good
		out[kv.key] = s
	}
	return out, ok
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
