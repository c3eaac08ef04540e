package ghcr

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sendPoints counts points sent on endpoint at t, as acquire does.
func sendPoints(l *pointsLimiter, endpoint string, t time.Time, points int) {
	w := l.get(endpoint)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prune(t)
	w.events = append(w.events, &pointEvent{at: t, points: points})
	w.sum += points
}

// A secondary limit met while few points were sent drops the ceiling low; quiet windows raise it
// back, an eighth of the configured ceiling each, never past it; a drop after a raise doubles the
// quiet stretch the next raise needs.
func TestPointsCeilingRecoversAfterQuietWindows(t *testing.T) {
	const ep = EndpointList
	pause := time.Minute
	type check struct {
		after time.Duration // since the end of the first pause
		want  int
	}
	tests := []struct {
		name string
		// sent is the points in the window when the limit comes; again, when set, is when (after
		// the end of the first pause) a second limit comes, with again points in the window.
		sent        int
		again       time.Duration
		againPoints int
		checks      []check
	}{
		{
			name: "small count: back to the configured ceiling in eight quiet windows",
			sent: 4,
			checks: []check{
				{0, PointsMutation},
				{clientWindow - time.Nanosecond, PointsMutation},
				{clientWindow, PointsMutation + 112},
				{3 * clientWindow, PointsMutation + 3*112},
				{8 * clientWindow, 900},
				{30 * clientWindow, 900},
			},
		},
		{
			name: "large count: three quarters of it, then raised",
			sent: 800,
			checks: []check{
				{0, 600},
				{clientWindow, 712},
				{2 * clientWindow, 824},
				{3 * clientWindow, 900},
			},
		},
		{
			name:        "a raise that meets the limit again: the next raise waits twice as long",
			sent:        300,
			again:       clientWindow + 10*time.Second, // ceiling raised to 337 at one window
			againPoints: 300,
			checks: []check{
				{0, 225},
				{clientWindow, 337},
				{clientWindow + 10*time.Second, 225}, // dropped to three quarters of 300
				// the pause of a minute ends at +2m10s; the next raise needs two windows from there
				{clientWindow + 10*time.Second + pause + 2*clientWindow - time.Nanosecond, 225},
				{clientWindow + 10*time.Second + pause + 2*clientWindow, 337},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &pointsLimiter{ceiling: 900}
			sendPoints(l, ep, epoch, tt.sent)
			l.block(ep, epoch, epoch.Add(pause))
			calm := epoch.Add(pause)
			var got, want []int
			blockedAgain := false
			for _, c := range tt.checks {
				at := calm.Add(c.after)
				if tt.again > 0 && !blockedAgain && !at.Before(calm.Add(tt.again)) {
					again := calm.Add(tt.again)
					sendPoints(l, ep, again, tt.againPoints)
					l.block(ep, again, again.Add(pause))
					blockedAgain = true
				}
				got = append(got, l.ceilingOf(ep, at))
				want = append(want, c.want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ceiling at each check (-want +got):\n%s", diff)
			}
		})
	}
}

// Answers of the same burst (the endpoint still paused) drop the ceiling once, and each moves the
// start of the quiet stretch to the end of the pause.
func TestPointsCeilingDropsOncePerBurst(t *testing.T) {
	l := &pointsLimiter{ceiling: 900}
	sendPoints(l, EndpointDelete, epoch, 400)
	l.block(EndpointDelete, epoch, epoch.Add(time.Minute))
	l.block(EndpointDelete, epoch.Add(time.Second), epoch.Add(2*time.Minute))
	end := epoch.Add(2 * time.Minute)
	got := []int{
		l.ceilingOf(EndpointDelete, epoch.Add(time.Second)),
		l.ceilingOf(EndpointDelete, end.Add(clientWindow-time.Nanosecond)),
		l.ceilingOf(EndpointDelete, end.Add(clientWindow)),
	}
	if diff := cmp.Diff([]int{300, 300, 412}, got); diff != "" {
		t.Errorf("ceiling (-want +got):\n%s", diff)
	}
}
