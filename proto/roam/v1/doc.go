// Package roamv1 holds roam's wire protocol, generated from registry.proto
// and service.proto by `go tool buf generate` (local protoc-gen-go and
// protoc-gen-go-grpc, pinned in go.mod). Only this file is hand-written;
// edit the .proto files and regenerate, never the generated code.
package roamv1
