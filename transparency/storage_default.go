package transparency

import (
	"context"
	"path/filepath"

	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore"
	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/storage"
)

// defaultStorage keeps Trillian's tree in DataDir/trillian.db.
func defaultStorage(ctx context.Context, dataDir string, mf monitoring.MetricFactory) (storage.Provider, error) {
	return sqlitestore.Open(ctx, filepath.Join(dataDir, trillianDBFile), mf)
}
