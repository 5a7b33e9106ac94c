package runtime

import "testing"

func TestEmergencyGOGC(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live, limit int64
		want        int
	}{
		{live: 85 * mib, limit: 100 * mib, want: 11},
		{live: 95 * mib, limit: 100 * mib, want: minEmergencyGOGC},
		{live: 50 * mib, limit: 100 * mib, want: maxEmergencyGOGC},
		{live: 0, limit: 100 * mib, want: maxEmergencyGOGC},
	}
	for _, tt := range tests {
		if got := emergencyGOGC(tt.live, tt.limit); got != tt.want {
			t.Errorf("emergencyGOGC(%d, %d) = %d, want %d", tt.live, tt.limit, got, tt.want)
		}
	}
}
