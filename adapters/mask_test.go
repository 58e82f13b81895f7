package adapters

import "testing"

func TestMaskName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank", "   ", ""},
		{"one rune", "张", "*"},
		{"two runes", "张三", "张*"},
		{"three runes", "张小三", "张*三"},
		{"four runes", "欧阳小明", "欧**明"},
		{"five runes", "爱新觉罗溥", "爱***溥"},
		{"trimmed", " 张小三\n", "张*三"},
		{"latin one", "A", "*"},
		{"latin two", "Li", "L*"},
		{"latin long", "Smith", "S***h"},
		{"invalid utf8", "\xff\xfe\xfd", "\ufffd*\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskName(tt.in); got != tt.want {
				t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
