package server

import (
	"context"
	"fmt"
	"log/slog"
)

// cacheLogger passes go-control-plane's cache logs to slog, one level down: what the cache
// calls informational (every watch opened) is debugging detail for Breeze's users.
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l cacheLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l cacheLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l cacheLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }

func (l cacheLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "xds cache: "+fmt.Sprintf(format, args...))
}
