// Package zhejiang is the native adapter for the Zhejiang Health Code
// (浙江健康码) dialect: the colour dialect spoken by Zhejiang and by every
// provincial backend that is not in the Jing-Jin-Ji status dialect
// (see provsim.DialectFor). It is a real HTTP/JSON client of
// GET /zjhc/v1/codes?idNo=… (issue) and GET /zjhc/v1/codes/{codeId} (look-up).
// The HTTP machinery (deadlines, size cap, status mapping, strict JSON,
// the Issue/Lookup/Decode flow) is adapters/backendhttp's; this package
// describes the dialect to it.
//
// It owns:
//   - the native QR payload "ZJHC:<codeId>" (Detect, ParsePayload,
//     FormatPayload);
//   - strict decoding of the backend's code body (1 MiB cap, unknown,
//     duplicate and missing fields rejected) and the strict mapping of
//     healthColor onto the canonical colours (anything else is
//     color_unknown);
//   - translating a native code into canonical adapters.Claims, with the
//     name masked (adapters.MaskName) and the subject left empty.
//
// It must not:
//   - sign anything or see keys: the issuing node turns NativeStatus into a
//     roam code;
//   - put the holder's name or national ID number into an error, a log line
//     or Claims (errors of the HTTP client quote the URL, which carries the
//     ID number, so they are unwrapped before being returned);
//   - block without a deadline: every request has one (default 2 s).
package zhejiang
