package catalog

import (
	"strconv"

	"github.com/canopyag/canopy/platform/notify"
)

// The notification channels. A notification is a wake-up hint sent after
// the transaction it describes has committed (see notify.Announcer); the
// truth stays in the tables.
const (
	// EventsChannel carries "SEQ IMAGE_ID PROJECT" for every event.
	EventsChannel = "canopy_image_events"
	// WorkChannel carries the image id of an image that became claimable
	// (uploaded, re-queued or released).
	WorkChannel = "canopy_work"
)

// EventNotes are the notifications that announce one committed event.
func EventNotes(seq int64, imageID, project, status string) []notify.Note {
	notes := []notify.Note{{Channel: EventsChannel, Payload: strconv.FormatInt(seq, 10) + " " + imageID + " " + project}}
	if status == StatusUploaded {
		notes = append(notes, notify.Note{Channel: WorkChannel, Payload: imageID})
	}
	return notes
}
