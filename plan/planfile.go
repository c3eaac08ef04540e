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
// phrases) are stored once.
func Read(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := decodePlan(bufio.NewReaderSize(f, 1<<20))
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

// decodePlan decodes a plan object, streaming its tags and decisions.
func decodePlan(r io.Reader) (*Plan, error) {
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
			p.Tags, err = decodeArray(dec, func(t *inventory.Tag) { t.Digest = intern(t.Digest) })
		case "decisions":
			p.Decisions, err = decodeArray(dec, func(d *Decision) {
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

// decodeArray decodes a JSON array (or null) element by element, calling fix on each.
func decodeArray[T any](dec *json.Decoder, fix func(*T)) ([]T, error) {
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
	out := []T{}
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
