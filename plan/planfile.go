package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/regtidy/regtidy/inventory"
)

// A plan of the case's 400k manifests is some 290 MB of JSON. Write and Read stream its two
// long arrays, tags and decisions, element by element, so that neither holds the whole text in
// memory (encoding/json would, twice over while its buffer grows); the bytes are those
// json.Encoder with a two-space indent writes.

// Write writes the plan as indented JSON.
func (p *Plan) Write(w io.Writer) error {
	head := *p
	head.Tags, head.Decisions = nil, nil
	hb, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return err
	}
	const tagsKey, decisionsKey = "\n  \"tags\": null", "\n  \"decisions\": null"
	ti, di := bytes.Index(hb, []byte(tagsKey)), bytes.Index(hb, []byte(decisionsKey))
	if ti < 0 || di < ti {
		return errors.New("plan: unexpected layout of the plan's JSON")
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(hb[:ti+len(tagsKey)-len("null")])
	if err := writeArray(bw, p.Tags); err != nil {
		return err
	}
	bw.Write(hb[ti+len(tagsKey) : di+len(decisionsKey)-len("null")])
	if err := writeArray(bw, p.Decisions); err != nil {
		return err
	}
	bw.Write(hb[di+len(decisionsKey):])
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeArray writes a top-level field's array value as json.Encoder would at indent depth 1.
func writeArray[T any](w *bufio.Writer, items []T) error {
	if items == nil {
		_, err := w.WriteString("null")
		return err
	}
	if len(items) == 0 {
		_, err := w.WriteString("[]")
		return err
	}
	w.WriteString("[\n")
	for i := range items {
		b, err := json.MarshalIndent(&items[i], "    ", "  ")
		if err != nil {
			return err
		}
		w.WriteString("    ")
		w.Write(b)
		if i < len(items)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	_, err := w.WriteString("  ]")
	return err
}

// Read reads a plan file and checks its schema and, when it has one, its seal (see Plan.Seal): an
// edit other than turning deletes into keeps is an error wrapping ErrSeal. A plan without a seal
// (made before seals) is read, so that explain works; Apply refuses it. Tags and decisions are
// decoded one at a time, and the strings they repeat (digests of parents, kinds, fields, reasons'
// phrases, tag names) are stored once.
func Read(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hint, err := countDecisions(f)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	p, err := decodePlanSized(bufio.NewReaderSize(f, 1<<20), hint)
	if err != nil {
		return nil, fmt.Errorf("%s: not a plan file: %w", path, err)
	}
	if p.Schema != Schema {
		return nil, fmt.Errorf("%s: plan schema %q, this regtidy reads %q", path, p.Schema, Schema)
	}
	if p.SealDigest != "" {
		if err := p.CheckSeal(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return p, nil
}

// actionKey is the key only decisions (and the summary's few top reasons) have.
var actionKey = []byte(`"action":`)

// countDecisions returns about how many decisions the plan file r holds: how many times the key
// "action" occurs, which is the decisions and the summary's top reasons in any file regtidy
// wrote, and at most one for every 32 bytes (a file full of the key sizes nothing absurd). Read
// sizes the decisions with it: a slice grown by appending to the full case's 395k
// decisions (73 MB) would take up to 2.25 times that while it grows, and keep a quarter spare.
func countDecisions(r io.Reader) (int, error) {
	buf := make([]byte, 1<<20)
	n, carry, total := 0, 0, 0
	for {
		m, err := r.Read(buf[carry:])
		total += m
		chunk := buf[:carry+m]
		n += bytes.Count(chunk, actionKey)
		// Keep the last bytes, less than a key, for a key cut in two by the read.
		carry = min(len(chunk), len(actionKey)-1)
		copy(buf, chunk[len(chunk)-carry:])
		if err == io.EOF {
			return min(n, total/32), nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// decodePlan decodes a plan object, streaming its tags and decisions.
func decodePlan(r io.Reader) (*Plan, error) { return decodePlanSized(r, 0) }

// decodePlanSized is decodePlan with room made for about hint decisions (more grow the slice).
func decodePlanSized(r io.Reader, hint int) (*Plan, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var p Plan
	// rest collects the other fields, decoded at the end through the Plan type itself.
	rest := map[string]json.RawMessage{}
	var in inventory.Interner
	intern := in.Intern
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "tags":
			// A tag's name is also in its decision's Tags: one copy for both.
			p.Tags, err = decodeArray(dec, 0, func(t *inventory.Tag) { t.Name, t.Digest = intern(t.Name), intern(t.Digest) })
		case "decisions":
			p.Decisions, err = decodeArray(dec, hint, func(d *Decision) {
				for i, t := range d.Tags {
					d.Tags[i] = intern(t)
				}
				d.Digest, d.Parent = intern(d.Digest), intern(d.Parent)
				d.Kind, d.MediaType, d.Action = intern(d.Kind), intern(d.MediaType), Action(intern(string(d.Action)))
				for i := range d.Fields {
					f := &d.Fields[i]
					f.Name, f.Value = intern(f.Name), intern(f.Value)
				}
				for i := range d.Reasons {
					r := &d.Reasons[i]
					r.Rule, r.Kind, r.Detail, r.Of = intern(r.Rule), intern(r.Kind), intern(r.Detail), intern(r.Of)
				}
			})
		default:
			var raw json.RawMessage
			if err = dec.Decode(&raw); err == nil {
				rest[key] = raw
			}
		}
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the plan object")
	}
	restJSON, err := json.Marshal(rest)
	if err != nil {
		return nil, err
	}
	tags, decisions := p.Tags, p.Decisions
	if err := json.Unmarshal(restJSON, &p); err != nil {
		return nil, err
	}
	p.Tags, p.Decisions = tags, decisions
	return &p, nil
}

// decodeArray decodes a JSON array (or null) element by element, calling fix on each, into a
// slice with room for size elements.
func decodeArray[T any](dec *json.Decoder, size int, fix func(*T)) ([]T, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("want an array, got %v", tok)
	}
	out := make([]T, 0, size)
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("element %d: %w", len(out), err)
		}
		fix(&v)
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

// expectDelim reads the next token and checks it is the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("want %q, got %v", d, tok)
	}
	return nil
}
