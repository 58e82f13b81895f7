package shc

import (
	"bytes"
	"compress/flate"
	"io"

	"github.com/roam-federation/roam/federation/reason"
)

// inflate decompresses a raw DEFLATE stream (RFC 1951; no zlib or gzip
// wrapper) of at most max bytes of output. It reads at most max+1 bytes, so
// a bomb costs no more than the cap. Errors: decompress_limit (output over
// max bytes), malformed (not raw DEFLATE, truncated, trailing bytes, empty).
func inflate(p []byte, max int) ([]byte, error) {
	br := bytes.NewReader(p)
	fr := flate.NewReader(br)
	defer fr.Close()
	out, err := io.ReadAll(io.LimitReader(fr, int64(max)+1))
	if len(out) > max {
		return nil, reason.New(reason.DecompressLimit, "payload inflates to more than %d bytes", max)
	}
	if err != nil {
		return nil, reason.New(reason.Malformed, "payload is not raw DEFLATE (RFC 1951): %v", err)
	}
	if br.Len() != 0 {
		return nil, reason.New(reason.Malformed, "%d bytes follow the end of the DEFLATE stream", br.Len())
	}
	if len(out) == 0 {
		return nil, reason.New(reason.Malformed, "payload inflates to nothing")
	}
	return out, nil
}
