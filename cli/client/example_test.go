package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// The examples that talk to services are compiled, not run: they need
// ingest-svc on 127.0.0.1:7001 and status-svc on 127.0.0.1:7002.

func ExampleDial() {
	c, err := client.Dial("127.0.0.1:7001", "127.0.0.1:7002")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The generated stubs are there for everything else.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Status.GetQueueStats(ctx, &canopyv1.GetQueueStatsRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("waiting %d, processing %d, completed %d, failed %d\n", st.GetUploaded(), st.GetProcessing(), st.GetCompleted(), st.GetFailed())
}

// Upload a photo, and the five band files of a MicaSense capture as one
// image.
func ExampleClient_UploadFiles() {
	c, err := client.Dial("127.0.0.1:7001", "127.0.0.1:7002")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	resp, err := c.UploadFiles(ctx, []client.File{{Path: "DJI_0061.JPG"}}, client.UploadOptions{BatchID: "field-7"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("photo:", resp.GetImageId(), resp.GetStatus())

	var capture []client.File
	for band := 1; band <= 5; band++ {
		capture = append(capture, client.File{Path: fmt.Sprintf("IMG_0001_%d.tif", band)})
	}
	resp, err = c.UploadFiles(ctx, capture, client.UploadOptions{
		BatchID:  "field-7",
		Progress: func(sent int64) { fmt.Fprintf(os.Stderr, "\r%d bytes", sent) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("capture:", resp.GetImageId(), len(resp.GetFiles()), "files")
}

// Upload from any io.Reader (a camera's stream, an HTTP body...); the
// metadata names the file and, for one multi-band file, the band order.
func ExampleClient_Upload() {
	c, err := client.Dial("127.0.0.1:7001", "127.0.0.1:7002")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	f, err := os.Open("nir_camera.tif") // or a network stream: nothing is buffered whole
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	md := &canopyv1.UploadMetadata{
		Files:      []*canopyv1.FileSpec{{Filename: "nir_camera.tif"}},
		BandLayout: "RGN", // a NIR-converted camera: red, green, near infrared
		BatchId:    "field-7",
	}
	resp, err := c.Upload(context.Background(), md, []io.Reader{f}, client.UploadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetImageId(), resp.GetSizeBytes(), resp.GetSha256())
}

// Follow an image until it is analysed, then read its NDVI.
func ExampleClient_Watch() {
	c, err := client.Dial("127.0.0.1:7001", "127.0.0.1:7002")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	id := "0190f5f0-0000-7000-8000-000000000001"
	var last *canopyv1.Image
	err = c.Watch(ctx, id, func(m *canopyv1.WatchImageResponse) {
		last = m.GetImage()
		fmt.Println(last.GetStatus(), m.GetEvent().GetMessage())
	})
	if err != nil {
		log.Fatal(err)
	}
	if last.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		log.Fatalf("image %s: %s", id, last.GetLastError())
	}
	an, err := c.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id})
	if err != nil {
		log.Fatal(err)
	}
	for _, ix := range an.GetIndices() {
		if ix.GetName() == "NDVI" && ix.GetAvailable() {
			fmt.Printf("NDVI mean %.3f, vegetation %.0f%%\n", ix.GetMean(), ix.GetVegetationFraction()*100)
		}
	}
}

// A resumable upload: the id comes from the batch and the files' contents,
// so uploading the same files again returns the first image (Duplicate)
// without sending them.
func ExampleUploadID() {
	sums := []string{"612e3c62aa14498f1ebb548f1a609909dea8ce9e18aa72d4b5f0a5861d26af70"} // client.HashFile of each file
	id := client.UploadID("field-7", "", sums)
	fmt.Println(id == client.UploadID("field-7", "", sums), id != client.UploadID("field-8", "", sums))
	fmt.Println(len(id), id[:len(client.UploadIDPrefix)])
	// Output:
	// true true
	// 73 sha256c1-
}
