"""How bytes reach an instrument and how its replies become values.

* :mod:`~acquisition.transport.adapters`: :class:`Adapter`, the connection (a pyserial port or
  URL today: :class:`SerialAdapter`; a VISA or GPIB transport is one more subclass);
* :mod:`~acquisition.transport.scpi`: :class:`SCPILink`, SCPI over an adapter (terminations,
  one retry of an idempotent query, the error queue, a lock shared by threads);
* :mod:`~acquisition.transport.replies`: :func:`parse_number` and :func:`parse_error_entry`,
  the validation every reply passes before it is a value;
* :mod:`~acquisition.transport.errors`: :class:`InstrumentError` and its two kinds.

Imports nothing else from ``acquisition``.
"""

from .adapters import ADAPTERS, PORT_ERRORS, Adapter, SerialAdapter, make_adapter
from .errors import CommunicationError, InstrumentError, ReplyError
from .replies import (
    NO_ERROR_CODE,
    NR3_PATTERN,
    NUMBER_PATTERN,
    SCPI_INFINITY,
    SCPI_NAN,
    parse_error_entry,
    parse_number,
)
from .scpi import SCPILink

__all__ = ["Adapter", "SerialAdapter", "ADAPTERS", "make_adapter", "PORT_ERRORS",
           "InstrumentError", "CommunicationError", "ReplyError", "SCPILink",
           "parse_error_entry", "parse_number", "SCPI_NAN", "SCPI_INFINITY", "NR3_PATTERN",
           "NUMBER_PATTERN", "NO_ERROR_CODE"]
