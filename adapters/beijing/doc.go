// Package beijing is the native adapter for the Beijing Health Kit
// (北京健康宝) status dialect, shared by Beijing, Tianjin and Hebei
// (provsim.DialectFor). It is a real HTTP/JSON client of
// GET /bjjkb/api/v1/jkb?sfzh=… (issue) and GET /bjjkb/api/v1/jkb/{jkbbh}
// (look-up).
// The HTTP machinery (deadlines, size cap, status mapping, strict JSON,
// the Issue/Lookup/Decode flow) is adapters/backendhttp's; this package
// describes the dialect to it.
//
// It owns:
//   - the native QR payload "BJJKB:<jkbbh>" (Detect, ParsePayload,
//     FormatPayload);
//   - strict decoding of the backend's code body (1 MiB cap, unknown,
//     duplicate and missing fields rejected, times "2006-01-02 15:04:05" in
//     UTC+8) and the strict mapping of statuses onto canonical colours
//     (DESIGN.md §4): 未见异常 → green, 居家观察 → yellow, 集中观察 → red;
//     anything else is color_unknown;
//   - translating a native code into canonical adapters.Claims, with the
//     name masked (adapters.MaskName) and the subject left empty.
//
// It must not:
//   - sign anything or see keys: the issuing node turns NativeStatus into a
//     roam code;
//   - put the holder's name (xm) or national ID number (sfzh) into an error,
//     a log line or Claims (errors of the HTTP client quote the URL, which
//     carries sfzh, so they are unwrapped before being returned);
//   - block without a deadline: every request has one (default 2 s).
package beijing
