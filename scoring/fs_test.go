package scoring

import (
	"encoding/json"
	"io/fs"
	"testing/fstest"

	"github.com/glassbox-ledger/glassbox/models"
)

// fsOf builds an in-memory package folder from a manifest and model bytes.
func fsOf(m *models.Manifest, model []byte) fs.FS {
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return fstest.MapFS{
		models.ManifestFile: {Data: raw},
		models.ModelFile:    {Data: model},
	}
}
