package signin

import (
	"context"

	"ombud/kiosk/store"
)

// DecoyHash is the PIN hash SignIn checks an unknown id against.
func DecoyHash(ctx context.Context, db *store.Store) (string, error) {
	var h string
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		h, err = decoyHash(ctx, tx)
		return err
	})
	return h, err
}
