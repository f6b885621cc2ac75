package model

import "errors"

// ErrInvalid is wrapped by every validation failure, so the server can map
// all of them to 400 with one errors.Is.
var ErrInvalid = errors.New("invalid request")

// FieldError names the request field that failed validation and says what is
// wrong with it; its text is what the client sees after "error".
type FieldError struct {
	Field string
	Msg   string
}

// Invalid builds a FieldError for field.
func Invalid(field, msg string) error { return &FieldError{Field: field, Msg: msg} }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }
