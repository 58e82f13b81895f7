package adapters

import "strings"

// MaskName masks a personal name for display at a checkpoint (the disp claim,
// DESIGN.md §4), rune-wise so that Chinese and Latin names are treated alike:
//
//	""         → ""
//	"张"       → "*"
//	"张三"     → "张*"
//	"张小三"   → "张*三"
//	"欧阳小明" → "欧**明" (first and last rune kept, one "*" per hidden rune)
//
// Leading and trailing white space is ignored. Invalid UTF-8 bytes count as
// one rune each (U+FFFD). The result never contains more than two runes of
// the input.
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	switch n := len(r); n {
	case 0:
		return ""
	case 1:
		return "*"
	case 2:
		return string(r[0]) + "*"
	default:
		return string(r[0]) + strings.Repeat("*", n-2) + string(r[n-1])
	}
}
