package storage

// Tracking-code prefixes are trackcode.PrefixLen (3) Crockford base32 symbols:
// 15 bits, so at most PrefixSpace devices can ever be enrolled. Stores hand
// them out from a counter that only grows (a revoked device's prefix is never
// given again: codes it printed are still on customers' receipts) and map the
// counter through PrefixForSequence, so every backend gives the same prefixes
// in the same order.

const (
	// PrefixSpace is the number of distinct device prefixes.
	PrefixSpace = 1 << 15

	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // as in shared/trackcode

	// prefixStride is odd, so n -> n*stride mod 2^15 is a bijection: each
	// sequence number still gets its own prefix, but consecutive devices
	// differ in the first symbol, which makes codes from two kiosks easier to
	// tell apart when read aloud and does not reveal the fleet's size.
	prefixStride = 20077
	prefixOffset = 11587 // so the first device is not "000", which looks like a placeholder
)

// PrefixForSequence maps the n-th enrolment (n from 1) to its device prefix.
// It fails once n exceeds PrefixSpace: the fleet has run out of prefixes and
// the code format must grow before another device can enrol.
func PrefixForSequence(n int64) (string, error) {
	if n < 1 || n > PrefixSpace {
		return "", Errorf(Conflict, "device prefix %d out of range: all %d prefixes are used", n, PrefixSpace)
	}
	v := ((n-1)*prefixStride + prefixOffset) % PrefixSpace
	b := [3]byte{crockford[v>>10&31], crockford[v>>5&31], crockford[v&31]}
	return string(b[:]), nil
}
