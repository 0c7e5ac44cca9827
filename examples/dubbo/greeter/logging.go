package greeter

import (
	"fmt"
	"io"

	getty "github.com/apache/dubbo-getty"
	gostlogger "github.com/dubbogo/gost/log/logger"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// SetLogging sends the logs of dubbo-go and of its network layer (getty) to w, keeping
// entries at level ("debug", "info", "warn", "error") and above. By default both print every
// connection event to stdout, which drowns a demo's table or a test's output.
//
// Like dubbo-go's own logger, the setting is process-wide.
func SetLogging(w io.Writer, level string) error {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("log level %q: %w", level, err)
	}
	atomicLevel := zap.NewAtomicLevelAt(lvl)
	encoderCfg := zap.NewDevelopmentEncoderConfig()
	encoderCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(encoderCfg), zapcore.AddSync(w), atomicLevel)
	sugar := zap.New(core).Sugar()
	gostlogger.SetLogger(&gostlogger.DubboLogger{Logger: sugar, DynamicLevel: atomicLevel})
	getty.SetLogger(sugar)
	return nil
}
