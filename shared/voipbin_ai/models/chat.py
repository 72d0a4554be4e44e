"""The web chat's HTTP bodies: POST /chat {"session_id", "message"} -> {"response", "session_id"}."""

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    """One message of a website visitor: the first without session_id, the next with the one answered."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    session_id: str | None = Field(default=None, min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    message: str = Field(min_length=1, max_length=4000)


class ChatResponse(BaseModel):
    """The agent's answer, and the session id (issued by the server) to send with the next message."""

    response: str
    session_id: str
