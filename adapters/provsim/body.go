package provsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
)

// maxBodyDepth bounds the nesting of admin request bodies. The deepest
// legitimate body is two levels (travel_history inside the enrolment).
const maxBodyDepth = 8

// bodyKeys lists the JSON keys of one admin request body. Keys are compared
// exactly: encoding/json's case-insensitive matching is not used, so "Normal"
// and "NAME" are unknown keys, not aliases.
type bodyKeys struct {
	required []string // must be present and not null
	optional []string
}

// decodeBody reads one strict JSON object of at most MaxRequestBody bytes
// into v. Refusals, all 400 unless noted:
//   - body_too_large (413): more than MaxRequestBody bytes;
//   - bad_json: not JSON, not an object, data after the object, a key not in
//     keys (case-sensitive), nesting deeper than maxBodyDepth, a wrong type;
//   - duplicate_key: a key twice in one object, at any depth (encoding/json
//     would silently keep the last);
//   - missing_field: a required key absent or null (encoding/json would leave
//     the zero value, e.g. normal=false).
func decodeBody(w http.ResponseWriter, r *http.Request, v any, keys bodyKeys) *ruleError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &ruleError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds %d bytes", MaxRequestBody)}
		}
		return badRequest("bad_body", "reading request body: %v", err)
	}
	present, rerr := scanBody(body)
	if rerr != nil {
		return rerr
	}
	for key := range present {
		if !slices.Contains(keys.required, key) && !slices.Contains(keys.optional, key) {
			return badRequest("bad_json", "request body: unknown field %.64q (field names are case-sensitive)", key)
		}
	}
	for _, key := range keys.required {
		if isNull, ok := present[key]; !ok || isNull {
			return badRequest("missing_field", "request body: field %q is required (and must not be null)", key)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad_json", "request body: %v", err)
	}
	return nil
}

// scanBody checks that body is exactly one JSON object with no duplicate
// key at any depth, and returns its top-level keys, each mapped to whether
// its value is null.
func scanBody(body []byte) (map[string]bool, *ruleError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("bad_json", "request body: %v", jsonErr(err))
	}
	if tok != json.Delim('{') {
		return nil, badRequest("bad_json", "request body must be a JSON object")
	}
	top, rerr := scanMembers(dec, 1)
	if rerr != nil {
		return nil, rerr
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("bad_json", "request body has data after the JSON object")
	}
	return top, nil
}

// scanMembers reads an object's members after its '{', through its '}'.
func scanMembers(dec *json.Decoder, depth int) (map[string]bool, *ruleError) {
	if depth > maxBodyDepth {
		return nil, badRequest("bad_json", "request body is nested more than %d levels deep", maxBodyDepth)
	}
	keys := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("bad_json", "request body: %v", jsonErr(err))
		}
		key, ok := tok.(string)
		if !ok { // the decoder only yields string keys; be defensive
			return nil, badRequest("bad_json", "request body: object key is not a string")
		}
		if _, dup := keys[key]; dup {
			return nil, badRequest("duplicate_key", "request body: key %.64q appears more than once in one object", key)
		}
		isNull, rerr := scanValue(dec, depth)
		if rerr != nil {
			return nil, rerr
		}
		keys[key] = isNull
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, badRequest("bad_json", "request body: %v", jsonErr(err))
	}
	return keys, nil
}

// scanValue reads one value and reports whether it is null.
func scanValue(dec *json.Decoder, depth int) (bool, *ruleError) {
	tok, err := dec.Token()
	if err != nil {
		return false, badRequest("bad_json", "request body: %v", jsonErr(err))
	}
	switch tok {
	case nil:
		return true, nil
	case json.Delim('{'):
		_, rerr := scanMembers(dec, depth+1)
		return false, rerr
	case json.Delim('['):
		if depth+1 > maxBodyDepth {
			return false, badRequest("bad_json", "request body is nested more than %d levels deep", maxBodyDepth)
		}
		for dec.More() {
			if _, rerr := scanValue(dec, depth+1); rerr != nil {
				return false, rerr
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return false, badRequest("bad_json", "request body: %v", jsonErr(err))
		}
	}
	return false, nil
}

// jsonErr turns the io.EOF of a truncated body into a readable error.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
