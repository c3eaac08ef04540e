package policy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them.
var (
	// ErrInvalidPolicy: the policy file could not be read, parsed or validated. The errors that
	// wrap it are *Error values (errors.Join'ed when there are several), each naming
	// file:line:column and the field.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrKeepSource: a keep source (git history, run metadata) failed to load or returned
	// something unusable. A plan is never made from a partial keep set.
	ErrKeepSource = errors.New("keep source failed")
	// ErrEmptySource: a keep source yielded nothing where something was expected (no run
	// metadata inside since, no runs, no live run) and the policy does not allow it. It is
	// wrapped together with ErrKeepSource.
	ErrEmptySource = errors.New("keep source read nothing")
	// ErrUnresolved: Evaluate was given keep sets that lack a source the policy uses.
	ErrUnresolved = errors.New("keep source not resolved")
)

// Error is one problem in a policy file, located at a line and column.
type Error struct {
	// File is the file name as given to Load or Parse.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Path is the field, e.g. "rules.image.keep[0].commits.last"; empty for syntax errors.
	Path string
	// Msg says what is wrong, e.g. "must be a positive integer".
	Msg string
}

// Error formats as "file:line:column: path: message".
func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Path == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Path + ": " + e.Msg
}

// Unwrap returns ErrInvalidPolicy.
func (e *Error) Unwrap() error { return ErrInvalidPolicy }
