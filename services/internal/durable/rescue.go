package durable

import (
	"context"
	"encoding/json"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// RescueOwnJobs puts back in the queue, at once, the jobs that a previous
// process with this replica ID left running: it died (a crash, kill -9, an
// OOM), since no two live replicas share an ID, so those jobs will never
// finish. Without it they wait for River's rescuer, which takes a job back
// only after it has run for RescueAfter, and looks every 30 seconds. It
// returns how many it put back. Call it before the queue starts; an empty
// replicaID does nothing.
//
// A rescued job runs again as River's rescuer would run it: with its next
// attempt, the same arguments, and so, for a redeem, the same key.
func (b *Backend) RescueOwnJobs(ctx context.Context, replicaID string) (int, error) {
	if replicaID == "" {
		return 0, nil
	}
	return b.rescueOwn(ctx, replicaID)
}

// rescueOwn is RescueOwnJobs through River's driver: the running jobs whose
// last attempt was replicaID's become available, each with an error saying
// why, as River's rescuer records one.
func rescueOwn[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], replicaID string) (int, error) {
	exec := driver.GetExecutor()
	now := time.Now().UTC()
	rescued := 0
	for afterID := int64(0); ; {
		jobs, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: afterID, Max: 100, StuckHorizon: now.Add(time.Second)})
		if err != nil || len(jobs) == 0 {
			return rescued, err
		}
		params := &riverdriver.JobRescueManyParams{StuckHorizon: now.Add(time.Second)}
		for _, job := range jobs {
			afterID = job.ID
			if len(job.AttemptedBy) == 0 || job.AttemptedBy[len(job.AttemptedBy)-1] != replicaID {
				continue
			}
			why, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: job.Attempt,
				Error: "rescued at start-up by its replica " + replicaID + ", which had died running it"})
			if err != nil {
				return rescued, err
			}
			params.ID = append(params.ID, job.ID)
			params.Error = append(params.Error, why)
			params.FinalizedAt = append(params.FinalizedAt, nil)
			params.ScheduledAt = append(params.ScheduledAt, now)
			params.State = append(params.State, string(rivertype.JobStateAvailable))
		}
		if len(params.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, params); err != nil {
				return rescued, err
			}
			rescued += len(params.ID)
		}
	}
}
