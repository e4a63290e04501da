package wire

import (
	"strconv"
	"strings"
)

// Negotiate picks the protocol version for a connection: the highest version
// both sides speak. Highest, because a newer version exists only to fix or
// extend an older one; both sides keep speaking old versions for as long as
// devices in the field need them. No common version is a *Error with
// CloseUnsupportedVersion, which tells the device to give up until upgraded
// (reconnecting cannot help).
func Negotiate(clientVersions []int, serverVersions []int) (int, error) {
	best := 0
	for _, c := range clientVersions {
		if c <= best {
			continue
		}
		for _, s := range serverVersions {
			if s == c {
				best = c
				break
			}
		}
	}
	if best < 1 {
		return 0, errorf(CloseUnsupportedVersion, "no common protocol version: device offers %s, server speaks %s", listVersions(clientVersions), listVersions(serverVersions))
	}
	return best, nil
}

// listVersions formats at most a few versions: the list goes into a close
// reason, which has 123 bytes.
func listVersions(vs []int) string {
	const show = 6
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i == show {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(v))
	}
	b.WriteByte(']')
	return b.String()
}
