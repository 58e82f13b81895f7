// Package provsim simulates a provincial health-code backend: the system a
// jurisdiction ran in 2020 before roam existed (DESIGN.md §1, §2 "provincial
// backend"). It is a real HTTP server whose data lives on disk in bbolt, so
// a restart keeps residents, daily reports and issued codes.
//
// It owns:
//   - the colour rules of DESIGN.md §1 (enrolment colours, 7 and 14 day
//     recovery streaks, abnormal reports, contact-tracing status changes,
//     the status version that increases on every colour change);
//   - native code issuing and look-up in one of two dialects: "zhejiang"
//     (colours, RFC 3339 times) or "beijing" (statuses 未见异常/居家观察/
//     集中观察, "2006-01-02 15:04:05" times in UTC+8);
//   - the admin API (enrol, report, set status, get) and a Client for it.
//     Request bodies are strict (see decodeBody): required fields must be
//     present and not null (400 missing_field), keys are case-sensitive,
//     unknown keys are refused (bad_json) and so are duplicate keys
//     (duplicate_key). A known path asked with the wrong method is 405 with
//     an Allow header;
//   - ID number checks (NormalizeIDNumber): the GB 11643 shape and birth
//     date, not the check digit.
//
// It must not:
//   - sign anything or know about roam codes, keys, agreements or Raft: the
//     native adapters (adapters/zhejiang, adapters/beijing) are its only
//     callers on the code path;
//   - log names or national ID numbers;
//   - read the wall clock: every time comes from Config.Clock, so the demo and
//     tests run on the simulated 2020 calendar.
package provsim
