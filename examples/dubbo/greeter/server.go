package greeter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"dubbo.apache.org/dubbo-go/v3/common"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/global"
	"dubbo.apache.org/dubbo-go/v3/graceful_shutdown"
	"dubbo.apache.org/dubbo-go/v3/protocol"
	dubboprotocol "dubbo.apache.org/dubbo-go/v3/protocol/dubbo"
	"dubbo.apache.org/dubbo-go/v3/server"
)

// DefaultVersions are the service versions a server exports when its config names none:
// the two versions the examples route between.
var DefaultVersions = []string{"1.0.0", "2.0.0"}

// serviceFilters is the provider filter chain: echo (Dubbo's $echo liveness call), generic
// calls, and the filter that counts active requests for graceful shutdown. dubbo-go's
// default chain also names filters (token, tps, execute limit, access log) whose packages
// need modules this repository does not carry.
const serviceFilters = constant.EchoFilterKey + "," + constant.GenericServiceFilterKey + "," + constant.GracefulShutdownProviderFilterKey

// startTimeout bounds how long Start waits for the port to accept connections.
const startTimeout = 15 * time.Second

// ServerConfig says how to run a Greeter server.
type ServerConfig struct {
	// Name identifies the server in replies ("hello alice from <Name>"). Default "greeter".
	Name string
	// Host is the address to listen on. Default 127.0.0.1.
	Host string
	// Port to listen on; required (dubbo-go cannot report a port it picked itself).
	Port int
	// Versions are the service versions exported, all served by the same Greeter. A request
	// for a version not in the list fails with dubbo-go's "don't have this exporter" error.
	// Default DefaultVersions.
	Versions []string
	// Group is the service group ("" for none).
	Group string
}

// Server is a running Greeter server.
type Server struct {
	greeter  *Greeter
	addr     string
	served   chan error // receives ServeContext's result once
	protocol *dubboprotocol.DubboProtocol
	stopOnce atomic.Bool
}

// started makes Start refuse a second server in one process. dubbo-go keeps its exporters
// in one process-wide table keyed by interface, group and version — not by port — so two
// servers of the same interface in one process would answer each other's requests; and its
// shutdown is process-wide and final (no server can start after it). Run one server per
// process; tests and the demo start servers as child processes.
var started atomic.Bool

// ErrAlreadyStarted is returned by Start when this process already ran a server.
var ErrAlreadyStarted = errors.New("greeter: a server was already started in this process (dubbo-go allows one per process)")

// VersionedGreeter is the Greeter as exported under one version. dubbo-go keys service
// registrations by the handler's Reference(), so each exported version needs its own value;
// they all share one Greeter.
type VersionedGreeter struct {
	*Greeter
	reference string
}

// Reference is the registration key dubbo-go uses for this handler.
func (v *VersionedGreeter) Reference() string { return v.reference }

// Start exports the Greeter over the Dubbo protocol (hessian2) with no registry, and returns
// once the port accepts connections and every version is exported. A process can start only
// one server, ever (see ErrAlreadyStarted).
func Start(cfg ServerConfig) (*Server, error) {
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("greeter: port %d out of range", cfg.Port)
	}
	if cfg.Name == "" {
		cfg.Name = "greeter"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if len(cfg.Versions) == 0 {
		cfg.Versions = DefaultVersions
	}
	if !started.CompareAndSwap(false, true) {
		return nil, ErrAlreadyStarted
	}
	// dubbo-go reports a busy port by panicking deep inside Serve; check first for a clear
	// error (a race with another process remains possible and is caught below).
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		started.Store(false) // dubbo-go untouched: a later Start may try again
		return nil, fmt.Errorf("greeter: %w", err)
	}
	ln.Close()

	srv, err := server.NewServer(
		server.WithServerProtocol(
			protocol.WithDubbo(),
			protocol.WithIp(cfg.Host),
			protocol.WithPort(cfg.Port),
		),
		server.WithServerSerialization(constant.Hessian2Serialization),
		server.SetServerShutdown(quickShutdown()),
		server.SetServerApplication(application(cfg.Name)),
	)
	if err != nil {
		return nil, fmt.Errorf("greeter: new server: %w", err)
	}
	g := NewGreeter(cfg.Name)
	for _, v := range cfg.Versions {
		handler := &VersionedGreeter{Greeter: g, reference: "greeter:" + cfg.Group + ":" + v}
		opts := []server.ServiceOption{
			server.WithInterface(Interface),
			server.WithVersion(v),
			server.WithNotRegister(),
			server.WithFilter(serviceFilters),
		}
		if cfg.Group != "" {
			opts = append(opts, server.WithGroup(cfg.Group))
		}
		if err := srv.Register(handler, nil, opts...); err != nil {
			return nil, fmt.Errorf("greeter: register version %q: %w", v, err)
		}
	}

	// dubbo-go creates its protocol singleton lazily, without locking: create it here,
	// before Serve's goroutine, so that waitReady can read it without a data race.
	dp, ok := dubboprotocol.GetProtocol().(*dubboprotocol.DubboProtocol)
	if !ok {
		return nil, errors.New("greeter: dubbo-go's dubbo protocol has an unexpected type")
	}
	s := &Server{greeter: g, addr: addr, served: make(chan error, 1), protocol: dp}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.served <- fmt.Errorf("greeter: dubbo-go server panicked: %v", p)
			}
		}()
		s.served <- srv.Serve()
	}()
	if err := s.waitReady(cfg); err != nil {
		// Tear down whatever dubbo-go did start (a listener, goroutines); best effort.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.shutdown()
		_ = graceful_shutdown.Shutdown(ctx)
		return nil, err
	}
	return s, nil
}

// application names the dubbo-go application and turns off its MetadataService. That
// service is for registry-based discovery, which a direct server does not use, and dubbo-go
// would export it on the service's port bound to every interface, before (and in the way
// of) the loopback listener.
func application(name string) *global.ApplicationConfig {
	app := global.DefaultApplicationConfig()
	app.Name = "greeter-" + name
	app.MetadataType = constant.RemoteMetadataStorageType
	return app
}

// quickShutdown is dubbo-go's graceful shutdown without its waits (seconds each, meant for
// registries that need time to notice): a stopped example server should go away at once.
// It also keeps dubbo-go from installing its own SIGINT/SIGTERM handler, which would
// os.Exit the process.
func quickShutdown() *global.ShutdownConfig {
	cfg := global.DefaultShutdownConfig()
	noSignal := false
	cfg.InternalSignal = &noSignal
	cfg.ConsumerUpdateWaitTime = "0s"
	cfg.OfflineRequestWindowTimeout = "0s"
	cfg.StepTimeout = "2s"
	cfg.NotifyTimeout = "1s"
	cfg.Timeout = "5s"
	return cfg
}

// waitReady polls until the port accepts connections and every version is exported, or
// Serve fails.
func (s *Server) waitReady(cfg ServerConfig) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-s.served:
			if err == nil {
				err = errors.New("server stopped during start")
			}
			return fmt.Errorf("greeter: serve: %w", err)
		default:
		}
		if s.exported(cfg) {
			if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("greeter: %s not ready after %s", s.addr, startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exported reports whether dubbo-go's protocol table holds an exporter for every version.
func (s *Server) exported(cfg ServerConfig) bool {
	exporters := s.protocol.ExporterMap()
	for _, v := range cfg.Versions {
		if _, ok := exporters.Load(common.ServiceKey(Interface, cfg.Group, v)); !ok {
			return false
		}
	}
	return true
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Greeter is the service implementation, for in-process inspection.
func (s *Server) Greeter() *Greeter { return s.greeter }

// Stop releases blocked SlowHello calls, closes the port and waits for dubbo-go to finish,
// or for ctx. It is final for the process (dubbo-go's shutdown is process-wide).
func (s *Server) Stop(ctx context.Context) error {
	if !s.stopOnce.CompareAndSwap(false, true) {
		return nil
	}
	s.greeter.shutdown()
	if err := graceful_shutdown.Shutdown(ctx); err != nil {
		return fmt.Errorf("greeter: shutdown: %w", err)
	}
	select {
	case err := <-s.served:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
