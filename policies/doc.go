// Package policies owns host policies: the YAML files that say how a host
// jurisdiction turns a verified foreign code into an outcome, the CEL
// environment those files are written against, and their evaluation.
//
// # Files
//
// One file per host, named by its GB/T 2260 code (410000.yaml), plus
// default.yaml for hosts without a file of their own. The shipped files are
// embedded with go:embed; operators may load a directory instead (LoadDir)
// to override them. A file looks like this:
//
//	jurisdiction: "410000"            # must match the file name; "default" for default.yaml
//	version: "410000-2020-02-28.1"    # reported as the decision's policy_version
//	live_status: 'checkpoint == "intercity"'  # optional CEL bool; absent means never
//	rules:                            # evaluated in order; the first match wins
//	  - name: green_pass              # snake_case, unique in the file
//	    when: 'code.color == "green"' # CEL bool
//	    outcome: PASS
//	    message: "green code"         # optional, shown to checkpoint staff
//	default_outcome: UNDECIDED        # when no rule matches
//	default_message: "..."            # optional
//
// Unknown fields, unknown outcomes, duplicate rule names and expressions that
// do not type-check to bool are refused when the file is loaded. Errors are
// *LoadError values naming the file and the field, and match ErrInvalidPolicy.
//
// # CEL environment
//
//	code        object  iss (string, jurisdiction id), color (string), sys (string),
//	                    ver (int, status version), age_seconds (int, at - iat in seconds)
//	checkpoint  string  metro, residential, intercity, workplace or venue
//	host        string  host jurisdiction id (GB/T 2260)
//	agreement   object  id (string), require_live_status (bool)
//	status      object  required (bool): a live status was demanded by agreement,
//	                    policy or code age; checked (bool): a valid status assertion
//	                    was obtained and applied; reachable (bool): the issuer node
//	                    answered; changed (bool): the assertion changed the colour
//	                    (code.color already holds the fresh colour)
//	at          timestamp  evaluation time (from the caller's clock)
//
// The standard CEL library is available (startsWith, in, matches, …).
// Field names are checked when a file loads, so a typo such as code.colour
// fails loading instead of failing at a checkpoint.
//
// # What this package must not do
//
// Evaluation is on the hot verify path and must be a pure function of the
// Input: no I/O, no registry access, no clocks (the time comes in Input.At),
// no randomness. All CEL programs are compiled once at load time; each
// evaluation is bounded by a CEL cost limit so a pathological expression
// cannot hang a checkpoint. Verifying signatures, finding agreements and
// querying live status belong to federation/recognition, which calls
// NeedsLiveStatus before the query and Evaluate after it.
package policies
