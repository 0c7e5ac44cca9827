package main

// The codecs compiled into the binary. A new codec is one blank import here.
import (
	_ "github.com/breeze-mesh/breeze/protocol/brpc"
	_ "github.com/breeze-mesh/breeze/protocol/dubbo"
	_ "github.com/breeze-mesh/breeze/protocol/kvrpc"
	_ "github.com/breeze-mesh/breeze/protocol/thrift"
	_ "github.com/breeze-mesh/breeze/protocol/trpc"
)
