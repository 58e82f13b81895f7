package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Scan checks that data is exactly one JSON object with no duplicate key
// in any object, nested at most maxDepth deep (objects and arrays), and
// nothing after it. top, when not nil, sees every key of the top-level
// object in order; an error it returns stops the scan and is returned as
// is. Other failures are plain errors describing the problem.
func Scan(data []byte, maxDepth int, top func(key string) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	s := scanner{dec: dec, max: maxDepth}
	if err := s.object(1, top); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

type scanner struct {
	dec *json.Decoder
	max int
}

func (s scanner) object(depth int, top func(string) error) error {
	if depth > s.max {
		return errors.New("JSON nested too deeply")
	}
	seen := map[string]bool{}
	for s.dec.More() {
		t, err := s.dec.Token()
		if err != nil {
			return err
		}
		k, ok := t.(string)
		if !ok {
			return errors.New("object key is not a string")
		}
		if seen[k] {
			return fmt.Errorf("duplicate key %q", strings.ToValidUTF8(k, "?"))
		}
		seen[k] = true
		if top != nil {
			if err := top(k); err != nil {
				return err
			}
		}
		if err := s.value(depth); err != nil {
			return err
		}
	}
	_, err := s.dec.Token() // '}'
	return err
}

func (s scanner) value(depth int) error {
	t, err := s.dec.Token()
	if err != nil {
		return err
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return s.object(depth+1, nil)
	case '[':
		if depth+1 > s.max {
			return errors.New("JSON nested too deeply")
		}
		for s.dec.More() {
			if err := s.value(depth + 1); err != nil {
				return err
			}
		}
		_, err := s.dec.Token() // ']'
		return err
	}
	return fmt.Errorf("unexpected %v", d)
}
